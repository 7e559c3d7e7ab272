module github.com/driftgate/driftgate/services/importer

go 1.26.0
