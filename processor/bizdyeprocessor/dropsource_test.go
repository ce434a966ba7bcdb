package bizdyeprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// dropSourceConfig hashes user_id and removes every attribute it was read
// from; order_id is kept in clear beside its source.
func dropSourceConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.HashSalt = "pepper"
	cfg.Keys = []KeyConfig{
		{Name: "user_id", Hash: true, DropSource: true, From: []SourceConfig{
			{Attribute: "user.id"},
			{Header: "X-User-Id"},
			{Regex: &RegexSourceConfig{Attribute: "enduser.tag", Pattern: "^u:(?P<value>.+)$"}},
		}},
		{Name: "order_id", From: []SourceConfig{{Attribute: "order_id"}}},
	}
	return cfg
}

func TestDropSourceRemovesTheClearValue(t *testing.T) {
	hashed := hashValue("pepper", "u-42")
	tests := []struct {
		name  string
		attrs map[string]any // on the root span
		res   map[string]any // on the root's resource
	}{
		{name: "attribute", attrs: map[string]any{"user.id": "u-42"}},
		{name: "header", attrs: map[string]any{"http.request.header.x-user-id": []any{"u-42"}}},
		{name: "regex", attrs: map[string]any{"enduser.tag": "u:u-42"}},
		{name: "resource attribute", res: map[string]any{"user.id": "u-42"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, dropSourceConfig(), componenttest.NewNopTelemetrySettings())
			attrs := map[string]any{"order_id": "ORD-1"}
			for k, v := range tt.attrs {
				attrs[k] = v
			}
			td := traces(
				sp{svc: "checkout", trace: "t1", span: "a", name: "POST /checkout", kind: ptrace.SpanKindServer, attrs: attrs},
				sp{svc: "payment", trace: "t1", span: "b", parent: "a", name: "charge", kind: ptrace.SpanKindServer},
			)
			for k, v := range tt.res {
				require.NoError(t, td.ResourceSpans().At(0).Resource().Attributes().FromRaw(mergeRaw(map[string]any{"service.name": "checkout"}, k, v)))
			}
			require.NoError(t, h.p.ConsumeTraces(context.Background(), td))
			require.NoError(t, h.p.ConsumeLogs(context.Background(), logs(lg{svc: "payment", trace: "t1", span: "b", body: "charged", attrs: map[string]any{"user.id": "u-42"}})))

			out := h.allTraces()
			require.Equal(t, 2, out.SpanCount())
			for _, rs := range out.ResourceSpans().All() {
				assertNoClearValue(t, rs.Resource().Attributes())
				for _, ss := range rs.ScopeSpans().All() {
					for _, s := range ss.Spans().All() {
						assertNoClearValue(t, s.Attributes())
						assertAttr(t, s.Attributes(), "biz.user_id", hashed)
						assertAttr(t, s.Attributes(), "biz.order_id", "ORD-1")
					}
				}
			}
			root := out.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
			assertAttr(t, root.Attributes(), "order_id", "ORD-1") // a key without drop_source keeps its source
			lo := h.allLogs()
			require.Equal(t, 1, lo.LogRecordCount())
			rec := lo.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
			assertNoClearValue(t, rec.Attributes())
			assertAttr(t, rec.Attributes(), "biz.user_id", hashed)
		})
	}
}

// Items without a trace id are dyed from their own and their resource's
// values, which drop_source removed while scanning.
func TestDropSourceWithoutTraceID(t *testing.T) {
	hashed := hashValue("pepper", "u-7")
	h := newHarness(t, dropSourceConfig(), componenttest.NewNopTelemetrySettings())

	td := traces(sp{svc: "batch-job", name: "nightly", attrs: map[string]any{"user.id": "u-7"}})
	ld := logs(
		lg{svc: "batch-job", body: "own value", attrs: map[string]any{"user.id": "u-7"}},
		lg{svc: "batch-job", body: "no value"},
	)
	resLd := logs(lg{svc: "cron", body: "resource value"})
	require.NoError(t, resLd.ResourceLogs().At(0).Resource().Attributes().FromRaw(map[string]any{"service.name": "cron", "user.id": "u-7"}))
	resLd.ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())

	require.NoError(t, h.p.ConsumeTraces(context.Background(), td))
	require.NoError(t, h.p.ConsumeLogs(context.Background(), ld))

	s := h.allTraces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	assertNoClearValue(t, s.Attributes())
	assertAttr(t, s.Attributes(), "biz.user_id", hashed)

	want := map[string]string{"own value": hashed, "no value": "", "resource value": hashed}
	lo := h.allLogs()
	require.Equal(t, 3, lo.LogRecordCount())
	for _, rl := range lo.ResourceLogs().All() {
		assertNoClearValue(t, rl.Resource().Attributes())
		for _, r := range rl.ScopeLogs().At(0).LogRecords().All() {
			assertNoClearValue(t, r.Attributes())
			got, ok := r.Attributes().Get("biz.user_id")
			if want[r.Body().Str()] == "" {
				assert.False(t, ok, r.Body().Str())
				continue
			}
			require.True(t, ok, r.Body().Str())
			assert.Equal(t, want[r.Body().Str()], got.Str(), r.Body().Str())
		}
	}
}

func TestDropSourceValidate(t *testing.T) {
	tests := []struct {
		name string
		src  SourceConfig
		err  string
	}{
		{name: "attribute", src: SourceConfig{Attribute: "user.id"}},
		{name: "url_path", src: SourceConfig{URLPath: "/users/{value}"}, err: "'keys[0].drop_source' (user_id): 'from[1]' is a baggage, url_path or log_body source"},
		{name: "baggage", src: SourceConfig{Baggage: "user_id"}, err: "'keys[0].drop_source' (user_id): 'from[1]'"},
		{name: "log_body", src: SourceConfig{LogBody: "user=(?P<value>\\w+)"}, err: "'keys[0].drop_source' (user_id): 'from[1]'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Keys = []KeyConfig{{Name: "user_id", Hash: true, DropSource: true, From: []SourceConfig{{Attribute: "user.id"}, tt.src}}}
			err := cfg.Validate()
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.err)
		})
	}
}

func TestEmptySaltIsWarned(t *testing.T) {
	for _, tt := range []struct {
		name string
		salt string
		hash bool
		warn bool
	}{
		{name: "hash without salt", hash: true, warn: true},
		{name: "hash with salt", salt: "pepper", hash: true},
		{name: "no hashed key", hash: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			core, logsSeen := observer.New(zapcore.WarnLevel)
			set := componenttest.NewNopTelemetrySettings()
			set.Logger = zap.New(core)
			cfg := dropSourceConfig()
			cfg.HashSalt = configopaque.String(tt.salt)
			cfg.Keys[0].Hash = tt.hash
			newHarness(t, cfg, set)
			assert.Equal(t, map[bool]int{true: 1, false: 0}[tt.warn], logsSeen.FilterMessageSnippet("'hash_salt' is empty").Len())
		})
	}
}

func assertNoClearValue(t *testing.T, attrs pcommon.Map) {
	t.Helper()
	for _, k := range []string{"user.id", "http.request.header.x-user-id", "enduser.tag"} {
		_, ok := attrs.Get(k)
		assert.False(t, ok, "%s still carries the clear user id", k)
	}
}

func assertAttr(t *testing.T, attrs pcommon.Map, key, want string) {
	t.Helper()
	v, ok := attrs.Get(key)
	require.True(t, ok, "missing %s in %v", key, attrs.AsRaw())
	assert.Equal(t, want, v.Str(), key)
}

func mergeRaw(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}
