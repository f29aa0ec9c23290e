package analysis

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/models"
)

// TestOnWorkersOrder: items finishing out of order (later items sooner)
// reach done in item order, each computed by the worker whose model
// computed it; an item's error stops the hand-out, every finished item
// below it and above it still reaches done in order, and the error is the
// lowest failing item's; a panic is an error naming its item; after done
// fails, it is not called again.
func TestOnWorkersOrder(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Float, 3)
	replica := func() (models.Model, error) { return keptOpen{newTinyNet(t, gotch.Float, 3)}, nil }
	opt := WorkerOptions{Workers: 3, Replica: replica}
	var mu sync.Mutex
	used := map[models.Model]bool{}
	square := func(fail map[int]string) func(ctx context.Context, m models.Model) func(int) (int, error) {
		return func(ctx context.Context, wm models.Model) func(int) (int, error) {
			mu.Lock()
			used[wm] = true
			mu.Unlock()
			return func(i int) (int, error) {
				if err := ctx.Err(); err != nil { // as the solvers do
					return 0, err
				}
				time.Sleep(time.Duration(8-i) * 3 * time.Millisecond) // later items finish sooner
				switch fail[i] {
				case "error":
					return 0, errors.New("bad item")
				case "panic":
					panic("boom")
				}
				return i * i, nil
			}
		}
	}
	var got []int
	done := func(i, r int) error {
		if r != i*i {
			t.Errorf("item %d: result %d", i, r)
		}
		got = append(got, i)
		return nil
	}
	if err := OnWorkers(context.Background(), m, opt, 8, square(nil), done); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Errorf("done saw items %v, want 0..7 in order", got)
	}
	if len(used) != 3 || !used[m] {
		t.Errorf("%d worker models (the caller's among them: %v), want 3", len(used), used[m])
	}
	got = nil
	err := OnWorkers(context.Background(), m, opt, 8, square(map[int]string{5: "error", 6: "panic"}), done)
	if err == nil || !strings.Contains(err.Error(), "bad item") {
		t.Errorf("items 5 (error) and 6 (panic) failing: error %v, want item 5's", err)
	}
	if len(got) < 5 || !slices.Equal(got[:5], []int{0, 1, 2, 3, 4}) || !slices.IsSorted(got) || slices.Contains(got, 5) || slices.Contains(got, 6) {
		t.Errorf("after the failures done saw %v, want 0..4 then finished items in order, never 5 or 6", got)
	}
	got = nil
	err = OnWorkers(context.Background(), m, opt, 8, square(map[int]string{2: "panic"}), done)
	if err == nil || !strings.Contains(err.Error(), "item 2") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("item 2 panicking: error %v", err)
	}
	got = nil
	err = OnWorkers(context.Background(), m, opt, 8, square(nil), func(i, r int) error {
		got = append(got, i)
		if i == 3 {
			return errors.New("disk full")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "disk full") || !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Errorf("done failing at item 3: error %v, done saw %v, want 0..3 and that error", err, got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := OnWorkers(ctx, m, opt, 8, square(nil), func(int, int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled context: error %v, want one wrapping context.Canceled", err)
	}
}
