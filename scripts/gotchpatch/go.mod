module github.com/vitprobe/vitprobe/scripts/gotchpatch

go 1.26
