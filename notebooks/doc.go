// Package notebooks holds vitprobe's Jupyter notebooks, one per analysis,
// written in Go for the GoNB kernel (see README.md), and the test that
// executes them all headless with small budgets. It has no Go API.
package notebooks
