package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/internal/redistest"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
	"github.com/basketassist/basketassist/templates"
	"github.com/basketassist/basketassist/worker"
)

const (
	pinkKey  = "pink-api-key-0123456789"
	blueKey  = "blue-api-key-0123456789"
	adminKey = "admin-token-0123456789"
)

type webBundle struct {
	server *Server
	srv    *httptest.Server
	rdb    *redis.Client
	keys   *secrets.Keys
	tokens *suppression.Tokens
	sup    *suppression.Store
	client *http.Client
}

func setupWeb(t *testing.T, adjust ...func(*Options)) *webBundle {
	t.Helper()
	rdb := redistest.Client(t)
	keys := secrets.Throwaway()
	renderer, err := templates.New(templates.Options{})
	require.NoError(t, err)
	b := &webBundle{rdb: rdb, keys: keys, tokens: suppression.NewTokens(keys), sup: suppression.NewStore(rdb, "t:", nil)}
	sfs := map[string]basket.Storefront{
		"pink": {ID: "pink", Name: "Pink Shirts", BasketURL: "https://pink.example/basket/{basket_id}"},
		"blue": {ID: "blue", Name: "Blue Ties", BasketURL: "https://blue.example/b/{basket_id}"},
	}
	o := Options{Storefronts: sfs, APIKeys: map[string]string{"pink": pinkKey, "blue": blueKey}, AdminToken: adminKey, RedisPrefix: "ba:"}
	for _, f := range adjust {
		f(&o)
	}
	b.server = New(Deps{Redis: rdb, Events: worker.NewProducer(asynq.NewClientFromRedisClient(rdb), keys, worker.ProducerOptions{}),
		Suppressions: b.sup, Tokens: b.tokens, Keys: keys, Renderer: renderer}, o)
	b.srv = httptest.NewServer(b.server)
	t.Cleanup(b.srv.Close)
	b.client = b.srv.Client()
	// Never follow a redirect off this machine: /r/ points at the storefront.
	b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return b
}

func (b *webBundle) post(t *testing.T, path, key, contentType string, body []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

// queued returns how many event tasks wait in the events queue.
func (b *webBundle) queued(t *testing.T) int {
	info, err := asynq.NewInspectorFromRedisClient(b.rdb).GetQueueInfo(worker.QueueEvents)
	if err != nil {
		return 0
	}
	return info.Pending
}

func event(i int, storefront string) map[string]any {
	return map[string]any{"id": fmt.Sprintf("evt_%d", i), "type": "basket.updated", "storefront": storefront,
		"basket_id": fmt.Sprintf("b_%d", i), "occurred_at": time.Now().UTC().Format(time.RFC3339),
		"customer": map[string]any{"email": "ann@example.com", "consent": map[string]any{"basket_assistance": true}},
		"basket":   map[string]any{"currency": "GBP", "items": []any{map[string]any{"sku": "S", "name": "Shirt", "quantity": 1, "unit_price": 100}}}}
}

func jsonBody(v any) []byte { b, _ := json.Marshal(v); return b }

func TestIngestAcceptsOneOrMany(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	resp, body := b.post(t, "/v1/events", pinkKey, "application/json", jsonBody(event(1, "pink")))
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
	assert.JSONEq(t, `{"accepted":1}`, body)

	resp, body = b.post(t, "/v1/events", pinkKey, "application/json",
		jsonBody(map[string]any{"events": []any{event(2, "pink"), event(3, "pink")}}))
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
	assert.JSONEq(t, `{"accepted":2}`, body)
	assert.Equal(t, 2, b.queued(t), "one task per request")
}

func TestIngestRejectsWholeRequestListingEveryBadEvent(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	bad1 := event(2, "pink")
	bad1["basket_id"] = ""
	bad1["occurred_at"] = "yesterday"
	bad2 := event(3, "pink")
	bad2["basket"].(map[string]any)["items"].([]any)[0].(map[string]any)["unit_price"] = 1.5
	resp, body := b.post(t, "/v1/events", pinkKey, "application/json",
		jsonBody(map[string]any{"events": []any{event(1, "pink"), bad1, bad2}}))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	var out struct {
		Error  string
		Events []basket.BadEvent
	}
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	assert.Contains(t, out.Error, "2 of 3 events are invalid")
	// One entry per bad event (DESIGN), each with all of its problems.
	badID := basket.Problem{Index: 1, Field: "basket_id", Message: "is required"}
	badTime := basket.Problem{Index: 1, Field: "occurred_at", Message: `must be RFC 3339, e.g. 2026-11-22T10:00:00Z, got "yesterday"`}
	badPrice := basket.Problem{Index: 2, Field: "basket.items[0].unit_price", Message: "must be a whole number (money is in minor units: 8900, not 89.00), got 1.5"}
	assert.Equal(t, []basket.BadEvent{
		{Index: 1, Field: badID.Field, Message: badID.Message, Problems: []basket.Problem{badID, badTime}},
		{Index: 2, Field: badPrice.Field, Message: badPrice.Message, Problems: []basket.Problem{badPrice}},
	}, out.Events)
	assert.Equal(t, 0, b.queued(t), "nothing of a refused request is enqueued")
}

func TestIngestAuth(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	body := jsonBody(event(1, "pink"))
	resp, _ := b.post(t, "/v1/events", "", "application/json", body)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "missing key")
	resp, _ = b.post(t, "/v1/events", "wrong-key-0123456789", "application/json", body)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "unknown key")
	resp, msg := b.post(t, "/v1/events", blueKey, "application/json", body)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "blue's key for pink's events")
	assert.Contains(t, msg, `storefront \"pink\"`)
	assert.Equal(t, 0, b.queued(t))
}

func TestIngestLimits(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	huge := event(1, "pink")
	huge["basket"].(map[string]any)["items"].([]any)[0].(map[string]any)["name"] = strings.Repeat("x", MaxBodyBytes)
	resp, _ := b.post(t, "/v1/events", pinkKey, "application/json", jsonBody(huge))
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)

	many := make([]any, basket.MaxBatch+1)
	for i := range many {
		many[i] = map[string]any{"id": i}
	}
	resp, msg := b.post(t, "/v1/events", pinkKey, "application/json", jsonBody(map[string]any{"events": many}))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, msg, "at most 500")

	resp, msg = b.post(t, "/v1/events", pinkKey, "application/json", []byte(`{"events": [`))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, msg, "malformed JSON")
	assert.Equal(t, 0, b.queued(t))
}

func (b *webBundle) token(email string) (string, secrets.Recipient) {
	r := b.keys.Recipient(email)
	return b.tokens.Encode(suppression.Token{Scope: suppression.BasketAssistance, Storefront: "pink", Recipient: r,
		Masked: secrets.MaskAddress(email), BasketID: "b_7", Step: 1}), r
}

func (b *webBundle) suppressed(t *testing.T, r secrets.Recipient, scope suppression.Scope) bool {
	blocked, _, err := b.sup.Check(context.Background(), r, "pink", scope)
	require.NoError(t, err)
	return blocked
}

func TestUnsubscribeGetChangesNothing(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	tok, r := b.token("ann@example.com")
	for range 3 { // link scanners fetch links, sometimes repeatedly
		resp, err := b.client.Get(b.srv.URL + "/u/" + tok)
		require.NoError(t, err)
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, string(page), "a***@example.com")
		assert.Contains(t, string(page), `<form method="post" action="../u/`+tok+`">`, "relative: web.public_url may have a path")
		assert.NotContains(t, string(page), "ann@example.com")
		assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	}
	resp, err := b.client.Get(b.srv.URL + "/r/" + tok)
	require.NoError(t, err)
	resp.Body.Close()
	assert.False(t, b.suppressed(t, r, suppression.BasketAssistance))
}

func TestUnsubscribePostForms(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	var multi bytes.Buffer
	mw := multipart.NewWriter(&multi)
	require.NoError(t, mw.WriteField("List-Unsubscribe", "One-Click"))
	require.NoError(t, mw.Close())
	cases := map[string]struct {
		contentType string
		body        []byte
	}{
		"one-click form-urlencoded": {"application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click")},
		"one-click multipart":       {mw.FormDataContentType(), multi.Bytes()},
		"page button":               {"application/x-www-form-urlencoded", []byte("confirm=1")},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tok, r := b.token(name + "@example.com")
			for attempt := range 2 { // idempotent
				resp, page := b.post(t, "/u/"+tok, "", c.contentType, c.body)
				assert.Equal(t, http.StatusOK, resp.StatusCode, "attempt %d", attempt)
				assert.Contains(t, page, "You are unsubscribed from basket emails")
				assert.Contains(t, page, "Newsletters you chose to receive are unaffected")
			}
			assert.True(t, b.suppressed(t, r, suppression.BasketAssistance))
			assert.False(t, b.suppressed(t, r, suppression.Newsletter))
		})
	}
}

func TestBadTokenIs400AndChangesNothing(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	tok, r := b.token("ann@example.com")
	tampered := tok[:10] + string(rune('A'+(tok[10]-'A'+1)%26)) + tok[11:]
	resp, _ := b.post(t, "/u/"+tampered, "", "application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click"))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	get, err := b.client.Get(b.srv.URL + "/u/garbage")
	require.NoError(t, err)
	get.Body.Close()
	assert.Equal(t, http.StatusBadRequest, get.StatusCode)
	assert.False(t, b.suppressed(t, r, suppression.BasketAssistance))
}

func TestRedirectToBasket(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	tok, _ := b.token("ann@example.com")
	resp, err := b.client.Get(b.srv.URL + "/r/" + tok)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Equal(t, "https://pink.example/basket/b_7", resp.Header.Get("Location"))
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	body := jsonBody(map[string]string{"email": "zoe@example.com", "scope": "newsletter", "reason": "manual"})
	resp, _ := b.post(t, "/v1/suppressions/check", "wrong-admin-token", "application/json", body)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp, out := b.post(t, "/v1/suppressions", adminKey, "application/json", body)
	require.Equal(t, http.StatusCreated, resp.StatusCode, out)
	resp, out = b.post(t, "/v1/suppressions/check", adminKey, "application/json", body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, out, `"suppressed":true`)
	resp, out = b.post(t, "/v1/suppressions/check", adminKey, "application/json",
		jsonBody(map[string]string{"email": "zoe@example.com", "scope": "basket_assistance"}))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, out, `"suppressed":false`)

	resp, out = b.post(t, "/v1/suppressions", adminKey, "application/json", jsonBody(map[string]string{"email": "zoe@example.com", "scope": "everything"}))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, out, `scope: unknown scope \"everything\"`)

	// A refused body is named in our words: no library prefix, no Go type names.
	for body, want := range map[string]string{
		`{"email":"zoe@example.com","colour":"red"}`: `colour: unknown field`,
		`{"email":7}`:                 `email: must be a string, got number`,
		`{"email":"zoe@example.com",`: `body: malformed JSON`,
		``:                            `body: is empty`,
	} {
		resp, out = b.post(t, "/v1/suppressions", adminKey, "application/json", []byte(body))
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
		assert.Contains(t, out, want, body)
		assert.NotContains(t, out, "json:", body)
		assert.NotContains(t, out, "suppressionRequest", body)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := b.client.Get(b.srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	resp, err := b.client.Get(b.srv.URL + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "/metrics needs a token with the metrics role")
}

func (b *webBundle) tokenIn(email, locale string) (string, secrets.Recipient) {
	r := b.keys.Recipient(email)
	return b.tokens.Encode(suppression.Token{Scope: suppression.BasketAssistance, Storefront: "pink", Recipient: r,
		Masked: secrets.MaskAddress(email), BasketID: "b_7", Step: 1, Locale: locale}), r
}

func (b *webBundle) form(t *testing.T, path string, values url.Values, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+path, strings.NewReader(values.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestPreferenceCentre(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	tok, r := b.tokenIn("pat@example.com", "en-GB")
	state := func() (basketOff, newsletterOff, allOff bool) {
		return b.suppressed(t, r, suppression.BasketAssistance), b.suppressed(t, r, suppression.Newsletter), b.suppressed(t, r, suppression.All)
	}

	resp, err := b.client.Get(b.srv.URL + "/p/" + tok)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(page), `name="basket" value="on" checked`)
	assert.Contains(t, string(page), `name="newsletter" value="on" checked`)

	// Newsletters off, basket emails kept.
	resp, body := b.form(t, "/p/"+tok, url.Values{"action": {"save"}, "basket": {"on"}}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, "Your choices are saved.")
	basketOff, newsletterOff, allOff := state()
	assert.False(t, basketOff)
	assert.True(t, newsletterOff)
	assert.False(t, allOff)

	// "All emails" off: everything blocked.
	b.form(t, "/p/"+tok, url.Values{"action": {"save"}, "basket": {"on"}, "all": {"on"}}, nil)
	basketOff, newsletterOff, allOff = state()
	assert.True(t, basketOff, "all blocks basket emails")
	assert.True(t, newsletterOff)
	assert.True(t, allOff)

	// Back from "all": the narrower newsletter entry stays.
	b.form(t, "/p/"+tok, url.Values{"action": {"save"}, "basket": {"on"}}, nil)
	basketOff, newsletterOff, allOff = state()
	assert.False(t, basketOff)
	assert.True(t, newsletterOff, "removing all does not remove the newsletter entry")
	assert.False(t, allOff)
}

func TestUnsubscribeCanBeUndone(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	tok, r := b.tokenIn("uma@example.com", "en-GB")
	resp, page := b.post(t, "/u/"+tok, "", "application/x-www-form-urlencoded", []byte("confirm=1"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, page, `<form method="post" action="../p/`+tok+`">`)
	assert.Contains(t, page, `name="action" value="undo"`)
	require.True(t, b.suppressed(t, r, suppression.BasketAssistance))

	resp, page = b.form(t, "/p/"+tok, url.Values{"action": {"undo"}}, http.Header{"Sec-Fetch-Site": {"same-origin"}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, page, "Basket emails are back on.")
	assert.False(t, b.suppressed(t, r, suppression.BasketAssistance))
}

func TestPreferencesRefuseCrossSitePosts(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	tok, r := b.tokenIn("vic@example.com", "en-GB")
	for name, h := range map[string]http.Header{
		"fetch metadata": {"Sec-Fetch-Site": {"cross-site"}},
		"origin":         {"Origin": {"https://evil.example"}},
	} {
		resp, _ := b.form(t, "/p/"+tok, url.Values{"action": {"save"}, "all": {"on"}}, h)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, name)
	}
	assert.False(t, b.suppressed(t, r, suppression.All), "nothing changed")
}

func TestPagesSpeakTheCustomersLanguage(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	for locale, want := range map[string]string{"de-AT": "Keine Warenkorb-E-Mails mehr?", "fr-FR": "Ne plus recevoir les e-mails de panier ?", "es-ES": "Stop basket emails?"} {
		tok, _ := b.tokenIn("wes@example.com", locale)
		resp, err := b.client.Get(b.srv.URL + "/u/" + tok)
		require.NoError(t, err)
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Contains(t, string(page), want, locale)
	}
	tok, _ := b.tokenIn("wes@example.com", "de-DE")
	resp, err := b.client.Get(b.srv.URL + "/p/" + tok)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(page), "Ihre E-Mail-Einstellungen")
	assert.Contains(t, string(page), `<html lang="de">`)
}

func TestAdminBatchCheckAndList(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	ctx := context.Background()
	for _, e := range []suppression.Entry{
		{Recipient: b.keys.Recipient("a1@example.com"), Scope: suppression.BasketAssistance, Storefront: "pink", Reason: suppression.Unsubscribed, Origin: suppression.Recipient},
		{Recipient: b.keys.Recipient("a2@example.com"), Scope: suppression.Newsletter, Reason: suppression.Manual, Origin: suppression.Operator},
		{Recipient: b.keys.Recipient("a3@example.com"), Scope: suppression.All, Reason: suppression.HardBounce, Origin: suppression.System},
	} {
		_, err := b.sup.Add(ctx, e)
		require.NoError(t, err)
	}

	emails := []string{"a1@example.com", "a2@example.com", "a3@example.com", "a4@example.com", "broken"}
	for len(emails) < MaxCheckBatch {
		emails = append(emails, fmt.Sprintf("filler%d@example.com", len(emails)))
	}
	resp, out := b.post(t, "/v1/suppressions/check", adminKey, "application/json",
		jsonBody(map[string]any{"emails": emails, "scope": "newsletter", "storefront": "pink"}))
	require.Equal(t, http.StatusOK, resp.StatusCode, out)
	var got struct {
		Results []struct {
			Index      int
			Email      string
			Suppressed bool
			Error      string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Len(t, got.Results, MaxCheckBatch)
	assert.False(t, got.Results[0].Suppressed, "a basket unsubscribe is not a newsletter one")
	assert.True(t, got.Results[1].Suppressed)
	assert.True(t, got.Results[2].Suppressed, "all blocks newsletters")
	assert.False(t, got.Results[3].Suppressed)
	assert.Equal(t, "not a bare address", got.Results[4].Error)

	resp, out = b.post(t, "/v1/suppressions/check", adminKey, "application/json",
		jsonBody(map[string]any{"emails": append(emails, "one-too-many@example.com"), "scope": "newsletter"}))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, out, "give 1-1000 addresses")

	// list follows next_cursor to the end, as a client would.
	list := func(query string) []map[string]any {
		t.Helper()
		var all []map[string]any
		cursor := ""
		for {
			req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/v1/suppressions"+query+"&cursor="+cursor, nil)
			req.Header.Set("Authorization", "Bearer "+adminKey)
			resp, err := b.client.Do(req)
			require.NoError(t, err)
			var page struct {
				Entries    []map[string]any
				NextCursor string `json:"next_cursor"`
			}
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
			resp.Body.Close()
			all = append(all, page.Entries...)
			if cursor = page.NextCursor; cursor == "" {
				return all
			}
		}
	}
	all := list("?")
	assert.Len(t, all, 3)
	for _, e := range all {
		assert.Regexp(t, `^[0-9a-f]{64}$`, e["recipient"], "hashes, not addresses")
		assert.NotEmpty(t, e["created_at"])
	}
	global := list("?storefront=*&scope=all")
	require.Len(t, global, 1)
	assert.Equal(t, "hard_bounce", global[0]["reason"])
	assert.Equal(t, b.keys.Recipient("a3@example.com").String(), global[0]["recipient"])
}
