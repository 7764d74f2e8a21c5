package templates

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// FormatMoney formats an amount in minor units of an ISO 4217 currency for a
// locale: 8900 GBP in en-GB is "£89.00", in de-DE "89,00 £". The amount is
// split into units and fraction with integers, so no float rounding shows.
func FormatMoney(minor int64, code, locale string) string {
	f, ok := moneyFormatFor(code, locale)
	if !ok {
		return code + " " + itoa(minor)
	}
	neg := minor < 0
	// The magnitude as uint64: -math.MinInt64 does not fit an int64.
	mag := uint64(minor)
	if neg {
		mag = -mag
	}
	whole := mag / f.div
	var num string
	if whole < 1000 && f.latinDigits {
		num = strconv.FormatUint(whole, 10) // no grouping below a thousand
	} else {
		num = f.printer.Sprintf("%d", whole)
	}
	if f.scale > 0 {
		frac := strconv.FormatUint(mag%f.div, 10)
		num += f.decimal + strings.Repeat("0", f.scale-len(frac)) + frac
	}
	sign := ""
	if neg {
		sign = "-"
	}
	if f.symbolFirst {
		return sign + f.symbol + num
	}
	return sign + num + "\u00a0" + f.symbol // most of continental Europe writes the symbol after the number
}

// moneyFormat is what formatting an amount of one currency in one locale
// needs, worked out once: parsing the currency and the locale and asking
// the printer for its separators cost more than the formatting itself.
type moneyFormat struct {
	printer     *message.Printer
	scale       int
	div         uint64
	decimal     string
	symbol      string
	symbolFirst bool
	latinDigits bool // the locale writes 0-9, so small numbers need no printer
}

var (
	moneyFormats     sync.Map // code + "|" + locale → moneyFormat
	moneyFormatCount atomic.Int64
)

// maxMoneyFormats bounds the cache: locale strings come from events, and
// past this many pairs new ones are worked out each time instead.
const maxMoneyFormats = 4096

func moneyFormatFor(code, locale string) (moneyFormat, bool) {
	key := code + "|" + locale
	if f, ok := moneyFormats.Load(key); ok {
		return f.(moneyFormat), true
	}
	unit, err := currency.ParseISO(code)
	if err != nil {
		return moneyFormat{}, false
	}
	scale, _ := currency.Standard.Rounding(unit)
	tag, err := language.Parse(locale)
	if err != nil {
		tag = language.BritishEnglish
	}
	p := printer(tag)
	f := moneyFormat{printer: p, scale: scale, div: 1, decimal: decimalSeparator(p), symbol: p.Sprint(currency.NarrowSymbol(unit)),
		latinDigits: p.Sprintf("%d", 9876543210)[0] == '9'}
	for range scale {
		f.div *= 10
	}
	base, _ := tag.Base()
	switch base.String() {
	case "en", "ja", "zh", "ko":
		f.symbolFirst = true
	}
	if moneyFormatCount.Load() < maxMoneyFormats {
		if _, loaded := moneyFormats.LoadOrStore(key, f); !loaded {
			moneyFormatCount.Add(1)
		}
	}
	return f, true
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
