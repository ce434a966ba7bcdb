package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// testPKI is a CA and a server certificate for 127.0.0.1, written as PEM
// files.
type testPKI struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	server                    tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "otelcol-biz test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)

	p := &testPKI{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "server.pem"), keyFile: filepath.Join(dir, "server.key"), pool: x509.NewCertPool()}
	writePEM := func(path, kind string, der []byte) []byte {
		b := pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
		require.NoError(t, os.WriteFile(path, b, 0o600))
		return b
	}
	writePEM(p.caFile, "CERTIFICATE", caDER)
	certPEM := writePEM(p.certFile, "CERTIFICATE", der)
	keyPEM := writePEM(p.keyFile, "EC PRIVATE KEY", keyDER)
	p.pool.AddCert(ca)
	p.server, err = tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	return p
}

// TestSecureStack runs the shipped security overlays: Kafka with TLS and
// SASL/SCRAM between agent and gateway (agent-secure.yaml,
// gateway-secure.yaml), and the gateway's OTLP receivers with TLS and a
// bearer token. Spans sent through the agent and straight to the gateway
// arrive; a client without the token is refused UNAUTHENTICATED (gRPC) and
// 401 (HTTP), a plaintext client cannot talk to the TLS port, and a gateway
// with a wrong Kafka password reads nothing.
func TestSecureStack(t *testing.T) {
	const token = "s3cret-token"
	pki := newTestPKI(t)
	kafka := startKafkaWith(t,
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "otelcol-biz", "kafka-pass"))
	kafkaEnv := []string{"BIZ_KAFKA_CA_FILE=" + pki.caFile, "BIZ_KAFKA_SASL_USERNAME=otelcol-biz", "BIZ_KAFKA_SASL_PASSWORD=kafka-pass"}

	st := &reliabilityStack{kafka: kafka, jaeger: startSpanSink(t), loki: startLogSink(t),
		agentGRPC: freeAddr(t), agentDir: t.TempDir(), agentHealth: freeAddr(t),
		agentEnv: kafkaEnv, agentOverlays: []string{"agent-secure.yaml"}, gatewayOverlays: []string{"gateway-secure.yaml"}}
	st.agentProcess = st.agent(t)
	gwGRPC, gwHTTP := freeAddr(t), freeAddr(t)
	st.gatewayWith(t, 0, append([]string{
		"BIZ_OTLP_GRPC_ENDPOINT=" + gwGRPC, "BIZ_OTLP_HTTP_ENDPOINT=" + gwHTTP,
		"BIZ_TLS_CERT_FILE=" + pki.certFile, "BIZ_TLS_KEY_FILE=" + pki.keyFile, "BIZ_OTLP_BEARER_TOKEN=" + token,
	}, kafkaEnv...)...)

	// app -> agent (plaintext on the node) -> Kafka (TLS + SCRAM) -> gateway
	l := newLoad(t, st.agentGRPC)
	l.send(t, 300, 300)

	// app -> gateway OTLP gRPC with TLS and the token
	conn, err := grpc.NewClient(gwGRPC, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12})))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	client := ptraceotlp.NewGRPCClient(conn)
	direct, directIDs := l.batch(20)
	authed := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
	_, err = client.Export(authed, ptraceotlp.NewExportRequestFromTraces(direct))
	require.NoError(t, err, "TLS + bearer token")

	denied, _ := l.batch(1)
	_, err = client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(denied))
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "no token: %v", err)
	wrong := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer nope")
	_, err = client.Export(wrong, ptraceotlp.NewExportRequestFromTraces(denied))
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "wrong token: %v", err)

	plain, err := grpc.NewClient(gwGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = plain.Close() })
	ctx, cancel := context.WithTimeout(authed, 5*time.Second)
	defer cancel()
	_, err = ptraceotlp.NewGRPCClient(plain).Export(ctx, ptraceotlp.NewExportRequestFromTraces(denied))
	assert.Error(t, err, "a plaintext client on the TLS port")

	// OTLP/HTTP with TLS: the token decides
	body, err := ptraceotlp.NewExportRequestFromTraces(denied).MarshalProto()
	require.NoError(t, err)
	httpClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12}}}
	for _, tt := range []struct {
		auth string
		want int
	}{{"", http.StatusUnauthorized}, {"Bearer nope", http.StatusUnauthorized}, {"Bearer " + token, http.StatusOK}} {
		req, err := http.NewRequest(http.MethodPost, "https://"+gwHTTP+"/v1/traces", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-protobuf")
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := httpClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, tt.want, resp.StatusCode, "Authorization %q", tt.auth)
	}

	sent := append(append([]pcommon.SpanID{}, l.accepted()...), directIDs...)
	st.waitDelivered(t, sent, 60*time.Second)

	// a gateway with the wrong Kafka password gets nothing from the brokers
	st2 := &reliabilityStack{kafka: kafka, jaeger: startSpanSink(t), loki: startLogSink(t), gatewayOverlays: st.gatewayOverlays}
	st2.gatewayWith(t, 0, "BIZ_TLS_CERT_FILE="+pki.certFile, "BIZ_TLS_KEY_FILE="+pki.keyFile, "BIZ_OTLP_BEARER_TOKEN="+token,
		"BIZ_KAFKA_CA_FILE="+pki.caFile, "BIZ_KAFKA_SASL_USERNAME=otelcol-biz", "BIZ_KAFKA_SASL_PASSWORD=wrong", "BIZ_KAFKA_GROUP=intruder")
	time.Sleep(5 * time.Second)
	delivered, _, _ := st2.jaeger.tally(sent)
	assert.Zero(t, delivered, "a wrong SASL password read spans")
}
