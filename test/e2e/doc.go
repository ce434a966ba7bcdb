// Package e2e tests the built otelcol-biz binary as a user runs it: real OTLP
// clients (the OTel Go SDK exporters), loopback ports only, every process
// stopped by its PID. Set OTELCOL_BIZ_BIN to the binary (`make test` does);
// otherwise the tests build one into a temporary folder.
package e2e
