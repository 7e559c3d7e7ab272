module github.com/driftgate/driftgate/test

go 1.26.0

require github.com/driftgate/driftgate/pkg v0.0.0

replace github.com/driftgate/driftgate/pkg => ../pkg
