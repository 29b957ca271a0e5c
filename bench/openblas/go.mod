module losslab-bench-openblas

go 1.26.0

require github.com/losslab/losslab v0.0.0

require golang.org/x/sys v0.50.0

replace github.com/losslab/losslab => ../..
