module github.com/vitprobe/vitprobe

go 1.26.0

require github.com/sugarme/gotch v0.7.0

replace github.com/sugarme/gotch => ./third_party/gotch
