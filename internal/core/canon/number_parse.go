package canon

import (
	"errors"
	"math"
	"math/big"
	"strconv"
)

// number parses a JSON number literal at p.pos. The grammar is checked here;
// the value is the float64 nearest to the literal (ties to even), as in
// JavaScript, ±Inf beyond the float64 range.
//
// strconv.ParseFloat does the rounding for ordinary literals. It is avoided
// where it is wrong or slow: it misreads literals with more than 800 integer
// digits and caps exponents at 10000 while still counting every digit, so
// long literals are first rewritten in a short normal form; and it takes tens
// of microseconds for each subnormal value, which a hostile document could
// repeat a million times, so those are computed here with big integers.
func (p *parser) number() (any, error) {
	s := p.src
	start := p.pos
	i := p.pos
	neg := false
	if s[i] == '-' {
		neg = true
		i++
	}
	if i >= len(s) || s[i] < '0' || s[i] > '9' {
		p.pos = i
		return nil, p.errorf("expected digit after '-', found %s", p.found())
	}
	if s[i] == '0' {
		i++
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			p.pos = i
			return nil, p.errorf("leading zeros are not allowed in numbers")
		}
	} else {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	intEnd := i
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			p.pos = i
			return nil, p.errorf("expected digit after decimal point, found %s", p.found())
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	negExpDigits := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg = s[i] == '-'
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			p.pos = i
			return nil, p.errorf("expected digit in exponent, found %s", p.found())
		}
		e := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if expNeg {
			negExpDigits = i - e
		}
	}
	p.pos = i
	lit := s[start:i]

	// Integers of up to 15 digits are exact in a float64: convert directly.
	digits := s[start:intEnd]
	if neg {
		digits = digits[1:]
	}
	if intEnd == i && len(digits) <= 15 {
		var n int64
		for j := 0; j < len(digits); j++ {
			n = n*10 + int64(digits[j]-'0')
		}
		f := float64(n)
		if neg {
			f = -f // "-0" gives -0, as in JavaScript
		}
		return f, nil
	}
	// A literal of at most 24 bytes with a negative exponent of at most two
	// digits is at least 1e-124: neither long nor subnormal.
	if len(lit) > 24 || negExpDigits > 2 {
		d, f, done := parseDecimal(lit)
		switch {
		case done:
			return f, nil
		case d.e10 <= -307:
			if f, ok := p.subnormal(d); ok {
				return f, nil
			}
			lit = d.String()
		case len(lit) > longLiteral:
			lit = d.String()
		}
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		// Unreachable: the grammar was checked above.
		return nil, &SyntaxError{Offset: start, Msg: "invalid number: " + err.Error(), Err: ErrSyntax}
	}
	return f, nil
}

// longLiteral is the length above which a number literal is rewritten in
// normal form before strconv.ParseFloat sees it. ParseFloat's errors with
// long literals need more than 800 digits, or about 10000.
const longLiteral = 700

// maxSigDigits is how many significant digits a decimal keeps. Every
// midpoint between two adjacent float64 values, subnormals included, has at
// most 767 significant digits, so these plus one sticky digit decide the
// rounding exactly.
const maxSigDigits = 799

// decimal is a number literal in normal form: (-)0.sig × 10^e10, where sig
// has no leading or trailing zero and at most maxSigDigits+1 digits (a final
// '1' standing for dropped digits that were not all zero).
type decimal struct {
	neg bool
	sig []byte
	e10 int64
}

// String returns d as a literal strconv.ParseFloat reads correctly.
func (d decimal) String() string {
	b := make([]byte, 0, len(d.sig)+32)
	if d.neg {
		b = append(b, '-')
	}
	b = append(b, '0', '.')
	b = append(b, d.sig...)
	b = append(b, 'e')
	b = strconv.AppendInt(b, d.e10, 10)
	return string(b)
}

// parseDecimal puts a grammatically valid number literal in normal form.
// When the value is certainly zero or infinite it returns that value and
// done = true instead.
func parseDecimal(lit string) (d decimal, f float64, done bool) {
	d.neg = lit[0] == '-'
	if d.neg {
		lit = lit[1:]
	}
	mant, exp := lit, ""
	for i := 0; i < len(lit); i++ {
		if lit[i] == 'e' || lit[i] == 'E' {
			mant, exp = lit[:i], lit[i+1:]
			break
		}
	}
	intPart, frac := mant, ""
	for i := 0; i < len(mant); i++ {
		if mant[i] == '.' {
			intPart, frac = mant[:i], mant[i+1:]
			break
		}
	}
	// digit i of intPart followed by frac
	at := func(i int) byte {
		if i < len(intPart) {
			return intPart[i]
		}
		return frac[i-len(intPart)]
	}
	n := len(intPart) + len(frac)
	first, last := -1, -1
	for i := 0; i < n; i++ {
		if at(i) != '0' {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	zero, inf := 0.0, math.Inf(1)
	if d.neg {
		zero, inf = math.Copysign(0, -1), math.Inf(-1)
	}
	if first < 0 {
		return d, zero, true
	}
	// The exponent, saturated far beyond any float64 range.
	var e int64
	if exp != "" {
		eneg := exp[0] == '-'
		if exp[0] == '-' || exp[0] == '+' {
			exp = exp[1:]
		}
		for i := 0; i < len(exp); i++ {
			if e < 1e15 {
				e = e*10 + int64(exp[i]-'0')
			}
		}
		if eneg {
			e = -e
		}
	}
	d.e10 = int64(len(intPart)-first) + e
	switch {
	case d.e10 > 310: // at least 1e309
		return d, inf, true
	case d.e10 < -330: // below 1e-330, less than half of the smallest subnormal
		return d, zero, true
	}
	k := min(last-first+1, maxSigDigits)
	d.sig = make([]byte, k, k+1)
	for i := range k {
		d.sig[i] = at(first + i)
	}
	if last-first+1 > maxSigDigits {
		d.sig = append(d.sig, '1') // the dropped digits end in a non-zero digit
	}
	return d, 0, false
}

// subnormal returns the float64 nearest to d when that is subnormal (or the
// smallest normal number, where rounding carries into it), computed exactly
// with big integers; ok is false when the value is a larger normal number.
func (p *parser) subnormal(d decimal) (f float64, ok bool) {
	// value = sig × 10^q, and in units of the smallest subnormal 2^-1074:
	// sig × 10^q × 2^1074 = sig × 2^(1074+q) / 5^-q, with q < 0 here.
	q := int(d.e10) - len(d.sig)
	num, ok := new(big.Int).SetString(string(d.sig), 10)
	if !ok {
		return 0, false
	}
	if p.pow5 == nil {
		p.pow5 = make(map[int]*big.Int)
	}
	den, cached := p.pow5[-q]
	if !cached {
		den = new(big.Int).Exp(big.NewInt(5), big.NewInt(int64(-q)), nil)
		p.pow5[-q] = den
	}
	if shift := 1074 + q; shift >= 0 {
		num.Lsh(num, uint(shift))
	} else {
		den = new(big.Int).Lsh(den, uint(-shift))
	}
	quo, rem := new(big.Int).QuoRem(num, den, new(big.Int))
	if quo.BitLen() > 53 {
		return 0, false
	}
	m := quo.Uint64()
	switch c := rem.Lsh(rem, 1).Cmp(den); {
	case c > 0, c == 0 && m&1 == 1:
		m++
	}
	if m > 1<<52 {
		return 0, false // normal: strconv.ParseFloat is exact and fast there
	}
	// For m <= 2^52 the bits of the float64 are m itself: a subnormal, or for
	// m = 2^52 the smallest normal number.
	f = math.Float64frombits(m)
	if d.neg {
		f = -f
	}
	return f, true
}
