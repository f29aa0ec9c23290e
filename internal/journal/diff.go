package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Diff names the settings that differ between two JSON headers, each as
// "name was X, now Y" with name the dotted path of the field; more than
// three differences end with "and N more". Headers that are not JSON
// objects give one "unreadable header" entry.
func Diff(was, now []byte) []string {
	var a, b any
	if json.Unmarshal(was, &a) != nil || json.Unmarshal(now, &b) != nil {
		return []string{"unreadable header"}
	}
	var diffs []string
	walk("", a, b, &diffs)
	if len(diffs) == 0 {
		// Same values, other bytes (key order, number spelling).
		diffs = append(diffs, "same settings written differently")
	}
	if len(diffs) > 3 {
		diffs = append(diffs[:3], fmt.Sprintf("and %d more", len(diffs)-3))
	}
	return diffs
}

func walk(prefix string, x, y any, diffs *[]string) {
	mx, okx := x.(map[string]any)
	my, oky := y.(map[string]any)
	if okx && oky {
		var keys []string
		for k := range mx {
			keys = append(keys, k)
		}
		for k := range my {
			if _, ok := mx[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			walk(p, mx[k], my[k], diffs)
		}
		return
	}
	ax, okx := x.([]any)
	ay, oky := y.([]any)
	if okx && oky && len(ax) == len(ay) {
		for i := range ax {
			walk(fmt.Sprintf("%s[%d]", prefix, i), ax[i], ay[i], diffs)
		}
		return
	}
	jx, _ := json.Marshal(x)
	jy, _ := json.Marshal(y)
	if !bytes.Equal(jx, jy) {
		*diffs = append(*diffs, fmt.Sprintf("%s was %s, now %s", prefix, short(jx), short(jy)))
	}
}

func short(b []byte) string {
	if string(b) == "null" {
		return "unset"
	}
	if len(b) > 40 {
		return string(b[:37]) + "..."
	}
	return string(b)
}
