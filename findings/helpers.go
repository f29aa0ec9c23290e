package findings

import (
	"fmt"
	"math"
)

// confidence is the two-sided level of the lesion and corruption claims
// (representation.go), which cmd/lesion and cmd/corrupt decide on their
// own: the criteria's level (a test checks that they agree). Their other
// rules are still constants in representation.go, not in criteria.json.
const confidence = 0.90

// direction classifies an interval: +1 if it lies above 0, −1 below, 0 if
// it contains 0 or is undefined.
func direction(lo, hi float64) int {
	switch {
	case math.IsNaN(lo) || math.IsNaN(hi):
		return 0
	case lo > 0:
		return 1
	case hi < 0:
		return -1
	}
	return 0
}

// pct formats a fraction as a percentage ("n/a" for NaN).
func pct(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

// firstFailure returns the message of the first true condition of pairs
// (condition, message, condition, message...).
func firstFailure(pairs ...any) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i].(bool) {
			return pairs[i+1].(string)
		}
	}
	return ""
}
