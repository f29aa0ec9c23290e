// Package progress draws a one-line progress bar on a terminal (done/total,
// rate, ETA and a caller's status text) and writes plain, rate-limited log
// lines when the output is not a terminal.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Bar reports the progress of a job of known size. Methods are safe for
// concurrent use. A nil *Bar ignores every call.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	label    string
	unit     string
	total    int
	done     int
	base     int
	start    time.Time
	last     time.Time
	every    time.Duration
	status   string
	finished bool
	drawn    int    // done at the last line drawn
	drawnSt  string // status at the last line drawn
	now      func() time.Time
}

// New starts a bar for total items named unit (e.g. "points", "batches")
// written to w. Items already done before this run (resumed work) can be
// passed as skipped: they count towards done but not towards the rate.
func New(w io.Writer, label, unit string, total, skipped int) *Bar {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	b := &Bar{w: w, tty: tty, label: label, unit: unit, total: total, done: skipped,
		every: 10 * time.Second, now: time.Now}
	b.start = b.now()
	b.base = skipped
	b.draw(true)
	return b
}

// Add records n more items done, with an optional status text (the latest
// loss, say).
func (b *Bar) Add(n int, status string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	if status != "" {
		b.status = status
	}
	b.draw(b.done >= b.total)
}

// Finish prints the final line.
func (b *Bar) Finish(status string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	if status != "" {
		b.status = status
	}
	if b.tty || b.drawn != b.done || b.drawnSt != b.status {
		b.draw(true)
	}
	if b.tty {
		fmt.Fprintln(b.w)
	}
	b.finished = true
}

// line formats the bar's current state.
func (b *Bar) line() string {
	el := b.now().Sub(b.start)
	rate := 0.0
	if s := el.Seconds(); s > 0 {
		rate = float64(b.done-b.base) / s
	}
	eta := "?"
	if rate > 0 && b.total >= b.done {
		eta = fmtDur(time.Duration(float64(b.total-b.done) / rate * float64(time.Second)))
	}
	var sb strings.Builder
	if b.label != "" {
		sb.WriteString(b.label)
		sb.WriteString(" ")
	}
	if b.tty {
		const width = 24
		fill := 0
		if b.total > 0 {
			fill = min(width, b.done*width/b.total)
		}
		sb.WriteString("[" + strings.Repeat("=", fill) + strings.Repeat(" ", width-fill) + "] ")
	}
	fmt.Fprintf(&sb, "%d/%d %s, %.3g %s/s, elapsed %s, ETA %s", b.done, b.total, b.unit, rate, b.unit, fmtDur(el), eta)
	if b.status != "" {
		sb.WriteString(", " + b.status)
	}
	return sb.String()
}

func (b *Bar) draw(force bool) {
	t := b.now()
	if b.tty {
		if !force && t.Sub(b.last) < 100*time.Millisecond {
			return
		}
		b.last = t
		fmt.Fprintf(b.w, "\r\033[K%s", b.line())
		return
	}
	if !force && t.Sub(b.last) < b.every {
		return
	}
	b.last = t
	b.drawn, b.drawnSt = b.done, b.status
	fmt.Fprintln(b.w, b.line())
}

func fmtDur(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	}
	if m > 0 {
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
