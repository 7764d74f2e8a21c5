package templates

import (
	"strconv"
	"strings"
	"sync"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// FormatMoney formats an amount in minor units of an ISO 4217 currency for a
// locale: 8900 GBP in en-GB is "£89.00", in de-DE "89,00 £". The amount is
// split into units and fraction with integers, so no float rounding shows.
func FormatMoney(minor int64, code, locale string) string {
	unit, err := currency.ParseISO(code)
	if err != nil {
		return code + " " + itoa(minor)
	}
	scale, _ := currency.Standard.Rounding(unit)
	tag, err := language.Parse(locale)
	if err != nil {
		tag = language.BritishEnglish
	}
	p := printer(tag)
	neg := minor < 0
	// The magnitude as uint64: -math.MinInt64 does not fit an int64.
	mag := uint64(minor)
	if neg {
		mag = -mag
	}
	div := uint64(1)
	for range scale {
		div *= 10
	}
	whole := p.Sprintf("%d", mag/div)
	num := whole
	if scale > 0 {
		frac := strconv.FormatUint(mag%div, 10)
		frac = strings.Repeat("0", scale-len(frac)) + frac
		num = whole + decimalSeparator(p) + frac
	}
	sign := ""
	if neg {
		sign = "-"
	}
	sym := p.Sprint(currency.NarrowSymbol(unit))
	base, _ := tag.Base()
	switch base.String() {
	case "en", "ja", "zh", "ko":
		return sign + sym + num
	default: // most of continental Europe writes the symbol after the number
		return sign + num + "\u00a0" + sym
	}
}

var printers sync.Map // "base-region" → *message.Printer: one per locale, not per amount

// printer is the number printer of tag's language and region, which are
// all that number formatting reads: keyed by them, the cache stays small
// whatever locale strings arrive ("en-GB-x-0000001" is en-GB).
func printer(tag language.Tag) *message.Printer {
	base, _ := tag.Base()
	key := base.String()
	if r, conf := tag.Region(); conf >= language.High {
		key += "-" + r.String()
	}
	if p, ok := printers.Load(key); ok {
		return p.(*message.Printer)
	}
	p, _ := printers.LoadOrStore(key, message.NewPrinter(language.Make(key)))
	return p.(*message.Printer)
}

func decimalSeparator(p *message.Printer) string {
	s := p.Sprintf("%.1f", 1.5)
	return s[1 : len(s)-1]
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
