package results

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestOutcomesJSON: the packed form of known outcomes is the bytes worked
// out by hand (image i is bit i%8 of byte i/8), it decodes to the same
// outcomes at every length around a byte boundary, and a count that does
// not match the bytes is refused.
func TestOutcomesJSON(t *testing.T) {
	// true, false, true -> 0b101 = 5 -> base64 "BQ=="; nine trues -> 0xff 0x01 -> "/wE=".
	for _, c := range []struct {
		o    Outcomes
		want string
	}{
		{Outcomes{true, false, true}, `{"n":3,"packed":"BQ=="}`},
		{Outcomes{true, true, true, true, true, true, true, true, true}, `{"n":9,"packed":"/wE="}`},
		{Outcomes{}, `{"n":0,"packed":""}`},
	} {
		b, err := json.Marshal(c.o)
		if err != nil || string(b) != c.want {
			t.Errorf("%v: %s (%v), want %s", c.o, b, err, c.want)
		}
	}
	for _, n := range []int{1, 7, 8, 9, 16, 17} {
		o := make(Outcomes, n)
		for i := range o {
			o[i] = i%3 == 0
		}
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		var back Outcomes
		if err := json.Unmarshal(b, &back); err != nil || !slices.Equal(back, o) {
			t.Errorf("n=%d: %v (%v), want %v", n, back, err, o)
		}
	}
	var o Outcomes
	if err := json.Unmarshal([]byte(`{"n":17,"packed":"BQ=="}`), &o); err == nil {
		t.Errorf("17 images in one byte: decoded %v, want an error", o)
	}
	if got := (Outcomes{true, false, true, true}).Accuracy(); got != 0.75 {
		t.Errorf("accuracy %v, want 0.75", got)
	}
}
