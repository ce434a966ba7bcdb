package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const (
	queueSize       = 256                    // the "orders" topic buffer: publishers block (bounded by their request) when full
	consumerWorkers = 4                      // the fulfilment consumer group's members
	consumerLag     = 250 * time.Millisecond // broker + fetch delay between publish and delivery
	callTimeout     = 5 * time.Second        // usual per-hop budget when no cascade is injected
)

// catalog is the shop's product list (read-only).
var catalog = []struct {
	sku   string
	cents int64
}{
	{"SKU-1001", 1999}, {"SKU-1002", 4999}, {"SKU-1003", 899}, {"SKU-1004", 12900},
	{"SKU-2001", 2450}, {"SKU-2002", 399}, {"SKU-2003", 7999}, {"SKU-3001", 15900},
	{"SKU-3002", 650}, {"SKU-3003", 3200}, {"SKU-4001", 999}, {"SKU-4002", 55000},
}

func priceOf(sku string) int64 {
	for _, p := range catalog {
		if p.sku == sku {
			return p.cents
		}
	}
	return 1000
}

// Wire types of the services' JSON APIs.
type checkoutRequest struct {
	Seq    int    `json:"seq"` // the client's checkout number, the order id's suffix (idempotency key)
	UserID string `json:"user_id"`
	SKU    string `json:"sku"`
	Qty    int    `json:"qty"`
}

type orderResponse struct {
	OrderID string `json:"order_id"`
	TradeNo string `json:"trade_no"`
}

type deductRequest struct {
	OrderID string `json:"order_id"`
	SKU     string `json:"sku"`
	Qty     int    `json:"qty"`
}

type paymentRequest struct {
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
}

type paymentResponse struct {
	TradeNo string `json:"trade_no"`
}

// message is a record of the "orders" topic: key, value and headers as in
// Kafka; the headers carry the trace context from producer to consumer.
type message struct {
	key         string
	value       []byte
	headers     map[string]string
	publishedAt time.Time
}

// shop is the six services of the demo, each with its own telemetry.
type shop struct {
	faults *faults
	rng    *rng
	tel    map[string]*telemetry
	urls   map[string]string // base URL per HTTP service, set in start

	servers []*http.Server
	queue   chan message
	stock   *stockCache
	thread  atomic.Uint64 // round-robins fake Tomcat worker names in inventory logs

	emails      sync.WaitGroup // notification goroutines
	consumers   sync.WaitGroup // fulfilment workers
	drain       context.Context
	cancelDrain context.CancelFunc
}

func newShop(f *faults, r *rng, tel map[string]*telemetry) *shop {
	drain, cancel := context.WithCancel(context.Background())
	return &shop{
		faults: f, rng: r, tel: tel,
		urls:  map[string]string{},
		queue: make(chan message, queueSize),
		stock: newStockCache(),
		drain: drain, cancelDrain: cancel,
	}
}

// start listens on ephemeral loopback ports and starts the consumers.
func (s *shop) start() error {
	routes := []struct {
		service, pattern string
		h                http.HandlerFunc
	}{
		{"gateway", "POST /api/checkout", s.checkout},
		{"order", "POST /api/orders", s.createOrder},
		{"inventory", "POST /api/stock/deduct", s.deductStock},
		{"payment", "POST /api/payments", s.pay},
	}
	for _, rt := range routes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle(rt.pattern, rt.h)
		srv := &http.Server{Handler: s.tel[rt.service].server(mux), ReadHeaderTimeout: 5 * time.Second}
		s.servers = append(s.servers, srv)
		s.urls[rt.service] = "http://" + ln.Addr().String()
		go func() { _ = srv.Serve(ln) }() // returns ErrServerClosed on Shutdown
	}
	for range consumerWorkers {
		s.consumers.Go(s.consume)
	}
	return nil
}

// stop drains in order: HTTP handlers (the only publishers), then emails,
// then the queue. A drain still running when ctx ends is cut short.
func (s *shop) stop(ctx context.Context) error {
	var errs []error
	for _, srv := range s.servers {
		errs = append(errs, srv.Shutdown(ctx))
	}
	s.emails.Wait()
	close(s.queue)
	done := make(chan struct{})
	go func() { s.consumers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancelDrain()
		<-done
		errs = append(errs, fmt.Errorf("fulfilment drain: %w", ctx.Err()))
	}
	s.cancelDrain()
	return errors.Join(errs...)
}

// --- gateway ---------------------------------------------------------------

func (s *shop) checkout(w http.ResponseWriter, r *http.Request) {
	t := s.tel["gateway"]
	ctx := r.Context()
	server := trace.SpanFromContext(ctx)
	// W3C traceresponse: tells the caller which trace served it.
	sc := server.SpanContext()
	w.Header().Set("traceresponse", fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID()))

	var req checkoutRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	server.SetAttributes(attribute.String("user.id", req.UserID))
	// The tier travels as baggage to every downstream service.
	tier, _ := baggage.NewMember("user_tier", tierOf(req.UserID))
	bag, _ := baggage.New(tier)
	ctx = baggage.ContextWithBaggage(ctx, bag)

	ctx, span := t.tracer.Start(ctx, "checkout", trace.WithAttributes(attribute.String("user.id", req.UserID)))
	defer span.End()
	if err := s.faults.inject(ctx, s.rng, "gateway"); err != nil {
		fail(w, r, span, statusFor(err), err)
		return
	}
	// auth + cart lookup
	if err := sleep(ctx, s.rng.logNormal(3*time.Millisecond, 0.5, time.Millisecond, 50*time.Millisecond)); err != nil {
		fail(w, r, span, statusFor(err), err)
		return
	}
	budget := callTimeout
	if s.faults.cascade() {
		budget = 800 * time.Millisecond
	}
	cctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	var out orderResponse
	if status, err := post(cctx, t.http, s.urls["order"]+"/api/orders", req, &out); err != nil {
		fail(w, r, span, status, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

// tierOf makes every 10th user a VIP: user-10, user-20, ...
func tierOf(userID string) string {
	if n, err := strconv.Atoi(strings.TrimPrefix(userID, "user-")); err == nil && n%10 == 0 {
		return "vip"
	}
	return "gold"
}

// --- order -----------------------------------------------------------------

func (s *shop) createOrder(w http.ResponseWriter, r *http.Request) {
	t := s.tel["order"]
	var req checkoutRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := fmt.Sprintf("ORD-%d", req.Seq)
	orderAttr := attribute.String("order_id", id)
	trace.SpanFromContext(r.Context()).SetAttributes(orderAttr)
	ctx, span := t.tracer.Start(r.Context(), "placeOrder", trace.WithAttributes(orderAttr))
	defer span.End()
	if err := s.faults.inject(ctx, s.rng, "order"); err != nil {
		t.slog.ErrorContext(ctx, "order rejected", "order_id", id, "error", err)
		fail(w, r, span, statusFor(err), err)
		return
	}

	// INSERT INTO orders: the span that names the order.
	_, ins := t.tracer.Start(ctx, "createOrder", trace.WithAttributes(orderAttr, attribute.String("db.system", "mysql")))
	_ = sleep(ctx, s.rng.logNormal(4*time.Millisecond, 0.4, time.Millisecond, 40*time.Millisecond))
	ins.End()
	t.slog.InfoContext(ctx, "order created", "order_id", id, "sku", req.SKU, "qty", req.Qty)

	if status, err := post(ctx, t.http, s.urls["inventory"]+"/api/stock/deduct",
		deductRequest{OrderID: id, SKU: req.SKU, Qty: req.Qty}, nil); err != nil {
		t.slog.ErrorContext(ctx, "stock deduction failed", "order_id", id, "error", err)
		fail(w, r, span, status, err)
		return
	}

	budget := callTimeout
	if s.faults.cascade() {
		budget = 500 * time.Millisecond
	}
	pctx, cancel := context.WithTimeout(ctx, budget)
	var pay paymentResponse
	status, err := post(pctx, t.http, s.urls["payment"]+"/api/payments",
		paymentRequest{OrderID: id, AmountCents: priceOf(req.SKU) * int64(req.Qty)}, &pay)
	cancel()
	if err != nil {
		t.slog.ErrorContext(ctx, "payment failed", "order_id", id, "error", err)
		fail(w, r, span, status, err)
		return
	}

	if err := s.publish(ctx, id, req); err != nil {
		t.slog.ErrorContext(ctx, "publish failed", "order_id", id, "error", err)
		fail(w, r, span, statusFor(err), err)
		return
	}
	// Fire-and-forget confirmation: keeps the request's trace context but
	// not its cancellation, which fires as soon as this handler returns.
	nctx := context.WithoutCancel(ctx)
	s.emails.Go(func() { s.sendEmail(nctx, id) })

	t.slog.InfoContext(ctx, "order placed", "order_id", id, "trade_no", pay.TradeNo)
	writeJSON(w, http.StatusCreated, orderResponse{OrderID: id, TradeNo: pay.TradeNo})
}

// publish sends the order to the "orders" topic under a PRODUCER span.
func (s *shop) publish(ctx context.Context, id string, req checkoutRequest) error {
	ctx, span := s.tel["order"].tracer.Start(ctx, "orders publish",
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", "orders"),
			attribute.String("messaging.kafka.message.key", id),
		))
	defer span.End()
	value, _ := json.Marshal(req)
	msg := message{key: id, value: value, headers: map[string]string{}, publishedAt: time.Now()}
	if !s.faults.lostHeaders() { // the bug -fault-lost-header simulates: a producer without the propagator
		propagator.Inject(ctx, propagation.MapCarrier(msg.headers))
	}
	select {
	case s.queue <- msg:
		return nil
	case <-ctx.Done():
		err := fmt.Errorf("publish %s: %w", id, ctx.Err())
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return err
	}
}

// --- inventory -------------------------------------------------------------

func (s *shop) deductStock(w http.ResponseWriter, r *http.Request) {
	t := s.tel["inventory"]
	var req deductRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	skuAttr := attribute.String("sku", req.SKU)
	trace.SpanFromContext(r.Context()).SetAttributes(skuAttr)
	ctx, span := t.tracer.Start(r.Context(), "deductStock", trace.WithAttributes(skuAttr))
	defer span.End()
	if err := s.faults.inject(ctx, s.rng, "inventory"); err != nil {
		fail(w, r, span, statusFor(err), err)
		return
	}
	if err := s.cacheGet(ctx, req.SKU); err != nil {
		fail(w, r, span, statusFor(err), err)
		return
	}
	s.stock.deduct(req.SKU, req.Qty)

	// A legacy Java-style logger: ids only inside the text (logback MDC), no
	// trace context on the record; the collector's log_correlation finds them.
	sc := span.SpanContext()
	line := fmt.Sprintf("%s [http-nio-8080-exec-%d] [inventory,%s,%s] INFO c.e.shop.StockService - deducted sku=%s",
		time.Now().Format("15:04:05.000"), s.thread.Add(1)%10+1, sc.TraceID(), sc.SpanID(), req.SKU)
	var rec otellog.Record
	now := time.Now()
	rec.SetTimestamp(now)
	rec.SetObservedTimestamp(now)
	rec.SetSeverity(otellog.SeverityInfo)
	rec.SetSeverityText("INFO")
	rec.SetBody(otellog.StringValue(line))
	t.otlog.Emit(context.Background(), rec)

	w.WriteHeader(http.StatusOK)
}

// cacheGet reads the SKU's stock through the cache: a hit is a local lookup,
// a miss loads the row from the database.
func (s *shop) cacheGet(ctx context.Context, sku string) error {
	ctx, span := s.tel["inventory"].tracer.Start(ctx, "cache.get", trace.WithAttributes(attribute.String("sku", sku)))
	defer span.End()
	hit := s.stock.cached(sku)
	span.SetAttributes(attribute.Bool("cache.hit", hit))
	d := s.rng.logNormal(2*time.Millisecond, 0.3, time.Millisecond, 3*time.Millisecond)
	if !hit {
		d = s.rng.logNormal(35*time.Millisecond, 0.3, 20*time.Millisecond, 60*time.Millisecond)
	}
	if err := sleep(ctx, d); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	if !hit {
		s.stock.fill(sku)
	}
	return nil
}

// stockCache is the inventory's stock table and its read cache.
type stockCache struct {
	mu     sync.Mutex
	stock  map[string]int
	expiry map[string]time.Time // cached SKUs, until when
}

const cacheTTL = 2 * time.Second

func newStockCache() *stockCache {
	return &stockCache{stock: map[string]int{}, expiry: map[string]time.Time{}}
}

func (c *stockCache) cached(sku string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Before(c.expiry[sku])
}

func (c *stockCache) fill(sku string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expiry[sku] = time.Now().Add(cacheTTL)
}

func (c *stockCache) deduct(sku string, qty int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stock[sku] < qty {
		c.stock[sku] += 1000 // restocked: the demo never sells out
	}
	c.stock[sku] -= qty
}

// --- payment ---------------------------------------------------------------

func (s *shop) pay(w http.ResponseWriter, r *http.Request) {
	t := s.tel["payment"]
	var req paymentRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, span := t.tracer.Start(r.Context(), "charge", trace.WithAttributes(
		attribute.String("order_id", req.OrderID), attribute.Int64("payment.amount_cents", req.AmountCents)))
	defer span.End()
	if err := s.faults.inject(ctx, s.rng, "payment"); err != nil {
		t.slog.ErrorContext(ctx, "payment failed", "order_id", req.OrderID, "error", err)
		fail(w, r, span, statusFor(err), err)
		return
	}
	if err := s.bankAuthorize(ctx); err != nil {
		t.slog.ErrorContext(ctx, "payment failed", "order_id", req.OrderID, "error", err)
		fail(w, r, span, statusFor(err), err)
		return
	}

	// The provider's asynchronous confirmation, carrying its trade number.
	tradeNo := "TN" + strings.TrimPrefix(req.OrderID, "ORD-")
	_, cb := t.tracer.Start(ctx, "payment.callback", trace.WithAttributes(attribute.String("trade_no", tradeNo)))
	_ = sleep(ctx, s.rng.logNormal(8*time.Millisecond, 0.4, 2*time.Millisecond, 80*time.Millisecond))
	cb.End()
	t.slog.InfoContext(ctx, "payment captured", "order_id", req.OrderID, "trade_no", tradeNo, "amount_cents", req.AmountCents)
	writeJSON(w, http.StatusOK, paymentResponse{TradeNo: tradeNo})
}

// bankAuthorize is the call to the acquiring bank. Under
// -fault-timeout-cascade it gets 200 ms and needs 400 ms: the innermost
// deadline of the chain fires first.
func (s *shop) bankAuthorize(ctx context.Context) error {
	budget, d := callTimeout, s.rng.logNormal(40*time.Millisecond, 0.5, 10*time.Millisecond, 2*time.Second)
	if s.faults.cascade() {
		budget, d = 200*time.Millisecond, 400*time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	ctx, span := s.tel["payment"].tracer.Start(ctx, "bank.authorize", trace.WithAttributes(attribute.String("peer.service", "bank")))
	defer span.End()
	if err := sleep(ctx, d); err != nil {
		err = fmt.Errorf("bank.authorize: %w", err)
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	return nil
}

// --- fulfilment (Kafka consumer) -------------------------------------------

// consume is one member of the fulfilment consumer group; it returns when
// the topic is closed and drained, or when the drain is cut short.
func (s *shop) consume() {
	for {
		select {
		case msg, ok := <-s.queue:
			if !ok {
				return
			}
			if err := sleep(s.drain, time.Until(msg.publishedAt.Add(consumerLag))); err != nil {
				return
			}
			s.process(msg)
		case <-s.drain.Done():
			return
		}
	}
}

func (s *shop) process(msg message) {
	t := s.tel["fulfilment"]
	// Without headers (-fault-lost-header) this starts a new root trace.
	ctx := propagator.Extract(s.drain, propagation.MapCarrier(msg.headers))
	ctx, span := t.tracer.Start(ctx, "orders process",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", "orders"),
			attribute.String("messaging.consumer.group.name", "fulfilment"),
			attribute.String("messaging.kafka.message.key", msg.key),
		))
	defer span.End()
	if err := s.faults.inject(ctx, s.rng, "fulfilment"); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		t.slog.ErrorContext(ctx, "fulfilment failed", "order_id", msg.key, "error", err)
		return
	}
	t.slog.InfoContext(ctx, "shipping order", "order_id", msg.key)
	sctx, ship := t.tracer.Start(ctx, "ship", trace.WithAttributes(attribute.String("shipping.carrier", "dhl")))
	err := sleep(sctx, s.rng.logNormal(80*time.Millisecond, 0.5, 20*time.Millisecond, time.Second))
	if err != nil {
		ship.RecordError(err)
		ship.SetStatus(codes.Error, err.Error())
	}
	ship.End()
	if err == nil {
		t.slog.InfoContext(ctx, "order shipped", "order_id", msg.key)
	}
}

// --- notification ----------------------------------------------------------

func (s *shop) sendEmail(ctx context.Context, orderID string) {
	t := s.tel["notification"]
	ctx, span := t.tracer.Start(ctx, "email", trace.WithAttributes(
		attribute.String("email.template", "order_confirmation"), attribute.String("order_id", orderID)))
	defer span.End()
	if err := s.faults.inject(ctx, s.rng, "notification"); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return
	}
	_ = sleep(ctx, s.rng.logNormal(30*time.Millisecond, 0.6, 5*time.Millisecond, time.Second))
}

// --- helpers ---------------------------------------------------------------

// post sends in as JSON and decodes the reply into out (if not nil). On
// failure it returns the status to answer with: the callee's, or 504/502.
func post(ctx context.Context, c *http.Client, url string, in, out any) (int, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return http.StatusInternalServerError, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return http.StatusInternalServerError, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return statusFor(err), err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		text, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return resp.StatusCode, fmt.Errorf("POST %s: %d %s", req.URL.Path, resp.StatusCode, strings.TrimSpace(string(text)))
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return http.StatusBadGateway, err
		}
	}
	return resp.StatusCode, nil
}

func statusFor(err error) int {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, errInjected):
		return http.StatusInternalServerError
	default:
		return http.StatusBadGateway
	}
}

// fail records err on the handler's span (exception event plus Error status
// with the text; otelhttp sets the server span's status from the code) and
// answers with status.
func fail(w http.ResponseWriter, r *http.Request, span trace.Span, status int, err error) {
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	trace.SpanFromContext(r.Context()).RecordError(err)
	http.Error(w, err.Error(), status)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
