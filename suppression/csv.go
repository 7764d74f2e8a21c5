package suppression

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/basketassist/basketassist/secrets"
)

// CSVHeader is the header of import and export files.
var CSVHeader = []string{"email", "scope", "storefront", "reason", "origin", "created_at"}

// HashPrefix marks a recipient hash in the email column. Export writes it,
// because only hashes are kept; import accepts it, so an export can be
// re-imported into a deployment with the same secrets.key.
const HashPrefix = "hmac-sha256:"

// importBatch rows go to Redis per pipeline: large enough to amortise the
// round trip, small enough to keep memory flat on any file size.
const importBatch = 2000

// ImportOptions configures ImportCSV.
type ImportOptions struct {
	Keys *secrets.Keys
	// Storefronts reports whether a storefront id is configured.
	Storefronts func(id string) bool
	// Problems receives one line per bad row ("line 7: scope: …"); nil discards them.
	Problems io.Writer
	// Origin is used when a row leaves origin empty (default operator).
	Origin Origin
}

// ImportResult counts what ImportCSV did.
type ImportResult struct {
	Rows, Added, Kept, Bad int
}

// ImportCSV streams a CSV with CSVHeader into the store. Bad rows are
// reported by line and skipped; every good row lands, even when others are bad.
func (s *Store) ImportCSV(ctx context.Context, r io.Reader, o ImportOptions) (ImportResult, error) {
	if o.Origin == "" {
		o.Origin = Operator
	}
	if o.Problems == nil {
		o.Problems = io.Discard
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var res ImportResult
	header, err := cr.Read()
	if err != nil {
		return res, fmt.Errorf("read CSV header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		name := strings.TrimSpace(strings.ToLower(h))
		if !slices.Contains(CSVHeader, name) {
			// Refused whole: a misspelt "storefront" would import every row
			// as a global entry, suppressing more than the file meant.
			return res, fmt.Errorf("CSV header: unknown column %q (want %s; nothing was imported)", h, strings.Join(CSVHeader, ","))
		}
		col[name] = i
	}
	for _, h := range []string{"email", "scope"} {
		if _, ok := col[h]; !ok {
			return res, fmt.Errorf("CSV header: column %q is missing (want %s)", h, strings.Join(CSVHeader, ","))
		}
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	batch := make([]Entry, 0, importBatch)
	flush := func() error {
		added, err := s.AddMany(ctx, batch)
		if err != nil {
			return err
		}
		res.Added += added
		res.Kept += len(batch) - added
		batch = batch[:0]
		return nil
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		res.Rows++
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			res.Bad++
			fmt.Fprintf(o.Problems, "line %d: %v\n", pe.Line, pe.Err)
			continue
		}
		if err != nil {
			return res, err
		}
		line, _ := cr.FieldPos(0)
		e, problem := parseRow(func(name string) string { return get(rec, name) }, o)
		if problem != "" {
			res.Bad++
			fmt.Fprintf(o.Problems, "line %d: %s\n", line, problem)
			continue
		}
		batch = append(batch, e)
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	err = flush()
	s.log.InfoContext(ctx, "suppressions imported", "rows", res.Rows, "added", res.Added, "kept", res.Kept,
		"bad", res.Bad, "default_origin", o.Origin)
	return res, err
}

// ParseRecipient reads a recipient as an operator gives it: a bare address,
// or its keyed hash as export and list print it (hmac-sha256:<hex>). Its
// errors never quote the input: they end up in terminals and logs.
func ParseRecipient(keys *secrets.Keys, s string) (secrets.Recipient, error) {
	s = strings.TrimSpace(s) // pasted
	switch {
	case strings.HasPrefix(s, HashPrefix):
		return secrets.ParseRecipient(strings.TrimPrefix(s, HashPrefix))
	case s == "":
		return secrets.Recipient{}, errors.New("is empty")
	}
	if secrets.CheckAddress(s) != nil {
		return secrets.Recipient{}, errors.New("is not a bare address (like ann@example.com) or " + HashPrefix + "<hex>")
	}
	return keys.Recipient(s), nil
}

// parseRow turns one row into an Entry, or says what is wrong with it.
// Problems never quote the address: they end up in terminals and logs.
func parseRow(get func(string) string, o ImportOptions) (Entry, string) {
	var e Entry
	var err error
	if e.Recipient, err = ParseRecipient(o.Keys, get("email")); err != nil {
		return e, "email: " + err.Error()
	}
	if e.Scope, err = ParseScope(get("scope")); err != nil {
		return e, "scope: " + err.Error()
	}
	e.Storefront = get("storefront")
	if e.Storefront == "*" {
		e.Storefront = ""
	}
	if e.Storefront != "" && o.Storefronts != nil && !o.Storefronts(e.Storefront) {
		return e, fmt.Sprintf("storefront: unknown storefront %q (leave empty for a global entry)", e.Storefront)
	}
	e.Reason = Manual
	if v := get("reason"); v != "" {
		if e.Reason, err = ParseReason(v); err != nil {
			return e, "reason: " + err.Error()
		}
	}
	e.Origin = o.Origin
	if v := get("origin"); v != "" {
		switch Origin(v) {
		case Recipient, Operator, System:
			e.Origin = Origin(v)
		default:
			return e, fmt.Sprintf("origin: unknown origin %q (want recipient, operator or system)", v)
		}
	}
	if v := get("created_at"); v != "" {
		if e.CreatedAt, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return e, fmt.Sprintf("created_at: must be RFC 3339, got %q", v)
		}
	}
	return e, ""
}

// ExportCSV writes every entry matching f as CSV with CSVHeader. The email
// column holds "hmac-sha256:<hex>": addresses are not kept, so they cannot
// be exported. It returns the number of rows written.
func (s *Store) ExportCSV(ctx context.Context, w io.Writer, f Filter) (int, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return 0, err
	}
	n := 0
	var cursor uint64
	for {
		entries, next, err := s.List(ctx, cursor, 1000, f)
		if err != nil {
			return n, err
		}
		for _, e := range entries {
			if err := cw.Write([]string{HashPrefix + e.Recipient.String(), string(e.Scope), e.Storefront,
				string(e.Reason), string(e.Origin), e.CreatedAt.UTC().Format(time.RFC3339)}); err != nil {
				return n, err
			}
			n++
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	cw.Flush()
	return n, cw.Error()
}
