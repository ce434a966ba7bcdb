package lokiexporter // import "github.com/otelcol-biz/otelcol-biz/exporter/lokiexporter"

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-biz/otelcol-biz/exporter/lokiexporter/internal/metadata"
)

type lokiExporter struct {
	cfg    *Config
	set    exporter.Settings
	tel    *metadata.TelemetryBuilder
	enc    *encoder
	client *http.Client
}

func newExporter(cfg *Config, set exporter.Settings) (*lokiExporter, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &lokiExporter{cfg: cfg, set: set, tel: tel, enc: newEncoder(cfg)}, nil
}

func (e *lokiExporter) start(ctx context.Context, host component.Host) error {
	client, err := e.cfg.ClientConfig.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return err
	}
	e.client = client
	return nil
}

func (e *lokiExporter) shutdown(context.Context) error {
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	e.tel.Shutdown()
	return nil
}

// pushLogs sends ld as one push request. 429 and 5xx are retryable (the
// exporterhelper retries, honouring Retry-After); 400 (out of order, too
// old, line too long) and other 4xx are permanent: counted, not retried.
func (e *lokiExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	req, entries := e.enc.encode(ld)
	if entries == 0 {
		return nil
	}
	body, contentType, err := e.enc.body(req)
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("loki: encoding push request: %w", err))
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.ClientConfig.Endpoint, bytes.NewReader(body))
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	httpReq.Header.Set("Content-Type", contentType)
	httpReq.Header.Set("User-Agent", "otelcol-biz")
	if e.cfg.TenantID != "" {
		httpReq.Header.Set("X-Scope-OrgID", e.cfg.TenantID)
	}
	resp, err := e.client.Do(httpReq)
	if err != nil {
		return fmt.Errorf("loki: push: %w", err) // network errors are retryable
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // drained: the connection is reused
		resp.Body.Close()
	}()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		e.tel.ExporterLokiStreamsPushed.Add(ctx, int64(len(req.Streams)))
		return nil
	}
	err = fmt.Errorf("loki: push of %d entries in %d streams answered %s: %s", entries, len(req.Streams), resp.Status, bytes.TrimSpace(msg))
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		if s := resp.Header.Get("Retry-After"); s != "" { // seconds or an HTTP date
			if secs, perr := strconv.Atoi(s); perr == nil {
				return exporterhelper.NewThrottleRetry(err, time.Duration(secs)*time.Second)
			}
			if at, perr := http.ParseTime(s); perr == nil {
				return exporterhelper.NewThrottleRetry(err, time.Until(at))
			}
		}
		return err
	}
	reason := strconv.Itoa(resp.StatusCode)
	e.tel.ExporterLokiEntriesRejected.Add(ctx, int64(entries), metric.WithAttributes(attribute.String("reason", reason)))
	e.set.Logger.Warn("Loki refused entries; they are not retried", zap.Int("entries", entries), zap.Error(err))
	return consumererror.NewPermanent(err)
}
