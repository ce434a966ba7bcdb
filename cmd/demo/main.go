// Command demo runs a small instrumented e-commerce shop in one process:
// gateway, order, inventory, payment, fulfilment and notification services,
// each with its own OTel SDK (service.name), calling each other over real
// HTTP on loopback and through an in-process Kafka stand-in, and sends
// traces, logs and metrics as OTLP/gRPC to a collector. Command-line faults
// reproduce what the collector's processors are built for: slow or failing
// services, a timeout cascade, a consumer that lost the trace context.
//
//	demo -endpoint=127.0.0.1:4317 -orders=20 -rate=10 -fault-lost-header
//
// It prints one line per order, "order ORD-7 trace <trace id> status <code>",
// and flushes all telemetry before it exits.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	f := &faults{latency: perService[time.Duration]{}, errors: perService[float64]{}}
	orders := flag.Int("orders", 0, "orders to place; 0 runs until SIGINT/SIGTERM")
	rate := flag.Float64("rate", 5, "orders per second")
	endpoint := flag.String("endpoint", "127.0.0.1:4317", "collector OTLP gRPC endpoint (insecure)")
	seed := flag.Uint64("seed", 1, "random seed (users, SKUs, latencies, injected errors)")
	flag.Var(f.latency, "fault-latency", "extra handler latency, `service:duration` (e.g. payment:300ms); repeatable")
	flag.Var(f.errors, "fault-errors", "HTTP 500 + span error with probability, `service:rate` (e.g. payment:0.2); repeatable")
	flag.BoolVar(&f.timeoutCascade, "fault-timeout-cascade", false, "gateway->order 800ms, order->payment 500ms, payment->bank 200ms with a 400ms bank")
	flag.BoolVar(&f.lostHeader, "fault-lost-header", false, "the order producer does not inject trace context: fulfilment starts new traces")
	after := flag.Duration("fault-after", 0, "run fault-free for this long, then switch the faults on (prints \"faults on <time>\")")
	flag.Parse()
	if *orders < 0 || *rate <= 0 || *after < 0 {
		return fmt.Errorf("-orders must be >= 0, -rate > 0 and -fault-after >= 0")
	}
	if *after > 0 {
		f.from = time.Now().Add(*after)
		time.AfterFunc(*after, func() { fmt.Printf("faults on %s\n", f.from.UTC().Format(time.RFC3339Nano)) })
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tel := map[string]*telemetry{}
	for _, name := range services {
		t, err := newTelemetry(ctx, *endpoint, name)
		if err != nil {
			return err
		}
		tel[name] = t
	}
	r := newRNG(*seed)
	s := newShop(f, r, tel)
	if err := s.start(); err != nil {
		return err
	}

	load(ctx, s.urls["gateway"], *orders, *rate, r, os.Stdout)

	// Shutdown is not cut short by a signal: each stage has its own bound.
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.stop(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "demo: stop:", err)
	}
	fctx, cancel2 := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel2()
	for _, name := range services {
		if err := tel[name].shutdown(fctx); err != nil {
			fmt.Fprintf(os.Stderr, "demo: %s telemetry: %v\n", name, err)
		}
	}
	return nil
}

// load places orders through the gateway at the given rate, n of them (or
// until ctx ends), and waits for the ones in flight.
func load(ctx context.Context, gateway string, n int, rate float64, r *rng, out io.Writer) {
	client := &http.Client{Timeout: 10 * time.Second} // the shopper's browser: not instrumented
	tick := time.NewTicker(max(time.Duration(float64(time.Second)/rate), time.Microsecond))
	defer tick.Stop()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex                // one whole line at a time on out
		inFlight = make(chan struct{}, 64) // bounds concurrent checkouts
	)
	for seq := 1; n == 0 || seq <= n; seq++ {
		if seq > 1 {
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
		}
		select {
		case inFlight <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		req := checkoutRequest{
			Seq:    seq,
			UserID: fmt.Sprintf("user-%d", 1+r.IntN(200)),
			SKU:    catalog[r.IntN(len(catalog))].sku,
			Qty:    1 + r.IntN(3),
		}
		wg.Go(func() {
			defer func() { <-inFlight }()
			// In-flight checkouts finish after a signal (bounded by the client timeout).
			trace, status := checkoutOnce(client, gateway, req)
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(out, "order ORD-%d trace %s status %d\n", req.Seq, trace, status)
		})
	}
	wg.Wait()
}

// checkoutOnce posts one checkout and returns the trace id the gateway
// reported in its traceresponse header, and the HTTP status (0: no answer).
func checkoutOnce(client *http.Client, gateway string, req checkoutRequest) (string, int) {
	status, traceID := 0, "-"
	body, _ := json.Marshal(req)
	resp, err := client.Post(gateway+"/api/checkout", "application/json", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: ORD-%d: %v\n", req.Seq, err)
		return traceID, status
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if parts := strings.Split(resp.Header.Get("traceresponse"), "-"); len(parts) == 4 {
		traceID = parts[1]
	}
	return traceID, resp.StatusCode
}
