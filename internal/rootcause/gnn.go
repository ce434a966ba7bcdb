package rootcause

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
)

// Model is the message-passing graph network. Every layer updates each
// node from itself, the mean of its callers (with the edge features of
// those calls) and the mean of its callees:
//
//	h' = tanh(Ws·h + Wi·mean_in[h_u, e_uv] + Wo·mean_out[h_w, e_vw] + b)
//
// and the score is a transparent prior - the node's own evidence (see
// prior) - scaled by a learned share in [0.75, 1.25]:
//
//	score = prior · (1 + shareRange·mean_k tanh(r_k)),  r_k = member k's linear readout of its last layer and the input
//
// (Members networks of the same shape, trained alike from different
// initial weights; the shipped weights have five.)
// The network decides how much of a node's own anomaly is its own fault
// (callers of a failing service inherit its errors and latency) rather
// than ranking from nothing: with a few dozen real labelled faults that
// keeps it from unlearning the obvious, and a node without any anomaly of
// its own (prior 0: only its callees' time in its duration, or faster than
// usual) can never outrank one that has some. The share is bounded so the
// network re-orders comparable anomalies but cannot veto a glaring one.
// Callers and callees are separate weights because anomalies
// travel upstream: a slow callee makes its callers slow, not the reverse,
// which is what lets the network tell a root cause from its victims.
type Model struct {
	Version      int       `json:"version"`
	Features     []string  `json:"features"`
	EdgeFeatures []string  `json:"edge_features"`
	Hidden       int       `json:"hidden"`
	Layers       int       `json:"layers"`
	Members      int       `json:"members"` // networks trained alike from different initial weights; their shares are averaged
	Params       []float64 `json:"params"`  // the members' parameters one after the other; each one's layout: see offsets
	Trained      TrainInfo `json:"trained"`
}

// TrainInfo records how a model was trained (cmd/gnntrain).
type TrainInfo struct {
	Seed          uint64  `json:"seed"`
	Epochs        int     `json:"epochs"`
	SimGraphs     int     `json:"sim_graphs"`
	DatasetGraphs int     `json:"dataset_graphs"`
	Loss          float64 `json:"loss"`
}

// modelVersion is the weights file format this build reads. It changes
// with the features or with how the network uses them; files of another
// version must be retrained with this build's cmd/gnntrain.
const modelVersion = 13

// shareRange bounds how far the network moves a node's prior (see Model):
// the prior ranks, the network re-orders close calls.
const shareRange = 0.25

//go:embed gnn_model.json
var embeddedModel []byte

var (
	embeddedOnce sync.Once
	embedded     *Model
	embeddedErr  error
)

// EmbeddedModel returns the weights trained by cmd/gnntrain and built in.
func EmbeddedModel() (*Model, error) {
	embeddedOnce.Do(func() {
		embedded, embeddedErr = ParseModel(embeddedModel)
	})
	return embedded, embeddedErr
}

// LoadModel reads a weights file written by cmd/gnntrain.
func LoadModel(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseModel(b)
}

// ParseModel decodes and checks a weights file against this build's features.
func ParseModel(b []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if m.Version != modelVersion {
		return nil, fmt.Errorf("model: version %d, this build reads %d: retrain it with this build's cmd/gnntrain", m.Version, modelVersion)
	}
	if !slices.Equal(m.Features, FeatureNames[:]) || !slices.Equal(m.EdgeFeatures, EdgeFeatureNames[:]) {
		return nil, fmt.Errorf("model: features %v / %v do not match this build's %v / %v", m.Features, m.EdgeFeatures, FeatureNames, EdgeFeatureNames)
	}
	if m.Hidden <= 0 || m.Layers <= 0 || m.Hidden > 256 || m.Layers > 8 {
		return nil, errors.New("model: hidden must be in 1..256 and layers in 1..8")
	}
	if m.Members <= 0 || m.Members > maxMembers {
		return nil, fmt.Errorf("model: members must be in 1..%d", maxMembers)
	}
	if len(m.Params) != m.numParams() {
		return nil, fmt.Errorf("model: %d params, want %d", len(m.Params), m.numParams())
	}
	for _, p := range m.Params {
		if math.IsNaN(p) || math.IsInf(p, 0) {
			return nil, errors.New("model: params must be finite")
		}
	}
	return &m, nil
}

// maxMembers bounds a model's members: each one is a forward pass per
// window.
const maxMembers = 16

// NewModel returns an untrained one-member model with seeded small random
// weights.
func NewModel(hidden, layers int, seed uint64) *Model { return newMember(hidden, layers, seed, 0) }

// newMember is member k's untrained network: its initial weights are drawn
// from the seed's k-th stream.
func newMember(hidden, layers int, seed uint64, k int) *Model {
	m := &Model{Version: modelVersion, Features: FeatureNames[:], EdgeFeatures: EdgeFeatureNames[:], Hidden: hidden, Layers: layers, Members: 1}
	m.Params = make([]float64, m.memberParams())
	rng := rand.New(rand.NewPCG(seed, 0x6e6e+uint64(k)))
	for l := range layers {
		din := m.din(l)
		o := m.offsets(l)
		scale := 1 / math.Sqrt(float64(din+2*(din+NumEdgeFeatures)))
		for i := o.ws; i < o.b; i++ {
			m.Params[i] = rng.NormFloat64() * scale
		}
	}
	ro := m.readout()
	for i := ro; i < len(m.Params); i++ {
		m.Params[i] = rng.NormFloat64() * 0.1
	}
	return m
}

func (m *Model) din(l int) int {
	if l == 0 {
		return NumNodeFeatures
	}
	return m.Hidden
}

type layerOffsets struct{ ws, wi, wo, b, end int }

func (m *Model) offsets(l int) layerOffsets {
	off := 0
	for k := range l + 1 {
		din := m.din(k)
		o := layerOffsets{ws: off}
		o.wi = o.ws + m.Hidden*din
		o.wo = o.wi + m.Hidden*(din+NumEdgeFeatures)
		o.b = o.wo + m.Hidden*(din+NumEdgeFeatures)
		o.end = o.b + m.Hidden
		if k == l {
			return o
		}
		off = o.end
	}
	panic("unreachable")
}

// readout is the offset of the readout weights: Hidden for the last layer, then NumNodeFeatures for the input skip.
func (m *Model) readout() int { return m.offsets(m.Layers - 1).end }

func (m *Model) memberParams() int { return m.readout() + m.Hidden + NumNodeFeatures }

func (m *Model) numParams() int { return m.Members * m.memberParams() }

// member is member k as a one-member model sharing m's parameters.
func (m *Model) member(k int) *Model {
	c := *m
	n := m.memberParams()
	c.Members, c.Params = 1, m.Params[k*n:(k+1)*n:(k+1)*n]
	return &c
}

// Name implements Method.
func (m *Model) Name() string { return "gnn" }

// Score implements Method: the network's scores and their softmax. The
// members' shares are averaged: one network's ranking of close calls
// depends on its initial weights (AC@1 moved by up to 0.067 across
// training seeds on the Nezha cases), their mean less.
func (m *Model) Score(g *Graph) ([]float64, []float64) {
	p := newPass(g)
	share := make([]float64, len(g.Nodes))
	for k := range m.Members {
		m.member(k).propagate(g, p)
		for v, s := range p.share {
			share[v] += s
		}
	}
	for v := range p.scores {
		p.scores[v] = p.prior[v] * (1 + shareRange*share[v]/float64(m.Members))
	}
	return p.scores, softmax(p.scores)
}

// squash keeps z-scores of any size in a range tanh layers can use, and
// drops the side below the baseline: a service faster, quieter or less
// loaded than usual is not a sign of a fault of its own. Fed to the network,
// such drops (a few-request window's -2 wobble, a cache getting warm) are
// learned as signs of a fault and beat real latency faults. Causes that do
// show as a drop (a statement gone) have their own positive features.
func squash(z float64) float64 {
	if !(z > 0) { // also NaN
		return 0
	}
	return math.Log1p(math.Min(z, 1000))
}

// pass holds one forward pass, kept for the backward pass.
type pass struct {
	x         [][]float64   // squashed node features
	ex        [][]float64   // squashed edge features
	h         [][][]float64 // per layer+1, per node
	mIn, mOut [][][]float64 // per layer, per node
	in, out   [][]int       // edge indexes into and out of each node
	prior     []float64
	share     []float64 // tanh(r); the node's factor is 1 + shareRange·share
	scores    []float64
}

func (m *Model) forward(g *Graph) *pass {
	p := newPass(g)
	m.propagate(g, p)
	return p
}

// newPass holds a pass's inputs, the same for every member: the squashed
// features, each node's edges and its prior.
func newPass(g *Graph) *pass {
	n := len(g.Nodes)
	p := &pass{x: rows(n, NumNodeFeatures), ex: rows(len(g.Edges), NumEdgeFeatures), in: make([][]int, n), out: make([][]int, n)}
	p.scores, p.prior, p.share = make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range g.Nodes {
		for f, z := range g.Nodes[i].X {
			p.x[i][f] = squash(z)
		}
		p.prior[i] = prior(&g.Nodes[i])
	}
	for k, e := range g.Edges {
		for f, z := range e.X {
			p.ex[k][f] = squash(z)
		}
		p.in[e.To] = append(p.in[e.To], k)
		p.out[e.From] = append(p.out[e.From], k)
	}
	p.h = append(p.h, p.x)
	return p
}

// propagate runs m's layers and readout over p's inputs into p's layers,
// shares and scores, reusing the layers' rows of a previous member's pass.
func (m *Model) propagate(g *Graph, p *pass) {
	n := len(g.Nodes)
	for l := range m.Layers {
		din, o := m.din(l), m.offsets(l)
		if len(p.mIn) == l {
			p.mIn, p.mOut = append(p.mIn, rows(n, din+NumEdgeFeatures)), append(p.mOut, rows(n, din+NumEdgeFeatures))
			p.h = append(p.h, rows(n, m.Hidden))
		}
		h, mIn, mOut, next := p.h[l], p.mIn[l], p.mOut[l], p.h[l+1]
		for v := range n {
			m.meanMsg(mIn[v], p, h, p.in[v], din, func(e Edge) int { return e.From }, g)
			m.meanMsg(mOut[v], p, h, p.out[v], din, func(e Edge) int { return e.To }, g)
			out := next[v]
			for j := range m.Hidden {
				s := m.Params[o.b+j]
				s += dot(m.Params[o.ws+j*din:o.ws+(j+1)*din], h[v])
				w := din + NumEdgeFeatures
				s += dot(m.Params[o.wi+j*w:o.wi+(j+1)*w], mIn[v])
				s += dot(m.Params[o.wo+j*w:o.wo+(j+1)*w], mOut[v])
				out[j] = math.Tanh(s)
			}
		}
	}
	ro := m.readout()
	last := p.h[m.Layers]
	for v := range n {
		// A blind spot keeps its prior (share 0): the network learned its
		// shares from services whose spans arrive, and a blind spot's
		// features (its callers' view of its calls: a latency that is its
		// duration, no logs, pod metrics, gaps or call patterns) are nothing
		// it was trained on. Messages still pass through it.
		if !g.Nodes[v].BlindSpot {
			p.share[v] = math.Tanh(dot(m.Params[ro:ro+m.Hidden], last[v]) + dot(m.Params[ro+m.Hidden:], p.x[v]))
		}
		p.scores[v] = p.prior[v] * (1 + shareRange*p.share[v])
	}
}

// priorBeta is the weight of a node's second family of evidence: families
// are not independent (a failed request both fails and logs), so half.
const priorBeta = 0.5

// prior is a node's own evidence: the squashed z of its strongest family of
// signs of trouble - latency (Node.latency), errors (rate, ERROR logs,
// timeouts), CPU, log patterns, call patterns, its callers stopping after
// its answer (FeatStopsAfter) - plus half its second
// strongest family, so a
// service whose requests fail and whose statements changed outranks one with
// a single spike of the same size. Duration is left out: a callee's fault
// raises it as much as the node's own.
func prior(n *Node) float64 {
	x := &n.X
	a, b := 0.0, 0.0
	for _, z := range [...]float64{
		weighed(FeatSelfTime, n.latency()),
		max(x[FeatErrorRate], x[FeatErrorLogs], x[FeatTimeouts]),
		x[FeatCPU],
		max(x[FeatLogNew], x[FeatLogMissing]),
		callPatternZ(x),
		x[FeatStopsAfter],
	} {
		if v := squash(z); v > a {
			a, b = v, a
		} else if v > b {
			b = v
		}
	}
	return a + priorBeta*b
}

// meanMsg sets msg (din+NumEdgeFeatures long, maybe a previous member's)
// to the mean of [h_peer, e] over edges (zeros without edges).
func (m *Model) meanMsg(msg []float64, p *pass, h [][]float64, edges []int, din int, peer func(Edge) int, g *Graph) {
	clear(msg) // a previous member's
	if len(edges) == 0 {
		return
	}
	for _, k := range edges {
		hp := h[peer(g.Edges[k])]
		for i := range din {
			msg[i] += hp[i]
		}
		for i := range NumEdgeFeatures {
			msg[din+i] += p.ex[k][i]
		}
	}
	inv := 1 / float64(len(edges))
	for i := range msg {
		msg[i] *= inv
	}
}

// rows is an n x w matrix on one backing array: a pass allocates a few
// of these instead of one slice per node and layer (a quarter of a
// 1,000-service close's allocations).
func rows(n, w int) [][]float64 {
	buf, r := make([]float64, n*w), make([][]float64, n)
	for i := range r {
		r[i] = buf[i*w : (i+1)*w : (i+1)*w]
	}
	return r
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// backward adds to grad the gradient of the loss given dScores (dL/dscore
// per node) for the pass p.
func (m *Model) backward(g *Graph, p *pass, dScores []float64, grad []float64) {
	n := len(g.Nodes)
	ro := m.readout()
	last := p.h[m.Layers]
	dh := rows(n, m.Hidden)
	for v := range n {
		ds := dScores[v] * p.prior[v] * shareRange * (1 - p.share[v]*p.share[v]) // dL/dr
		if g.Nodes[v].BlindSpot {
			ds = 0 // its share is fixed
		}
		for j := range m.Hidden {
			grad[ro+j] += ds * last[v][j]
		}
		for f := range NumNodeFeatures {
			grad[ro+m.Hidden+f] += ds * p.x[v][f]
		}
		for j := range m.Hidden {
			dh[v][j] = ds * m.Params[ro+j]
		}
	}
	for l := m.Layers - 1; l >= 0; l-- {
		din, o := m.din(l), m.offsets(l)
		w := din + NumEdgeFeatures
		h, hNext := p.h[l], p.h[l+1]
		dPrev := rows(n, din)
		for v := range n {
			for j := range m.Hidden {
				d := dh[v][j] * (1 - hNext[v][j]*hNext[v][j])
				if d == 0 {
					continue
				}
				grad[o.b+j] += d
				for i := range din {
					grad[o.ws+j*din+i] += d * h[v][i]
					dPrev[v][i] += d * m.Params[o.ws+j*din+i]
				}
				for i := range w {
					grad[o.wi+j*w+i] += d * p.mIn[l][v][i]
					grad[o.wo+j*w+i] += d * p.mOut[l][v][i]
				}
				if k := len(p.in[v]); k > 0 {
					for _, e := range p.in[v] {
						u := g.Edges[e].From
						for i := range din {
							dPrev[u][i] += d * m.Params[o.wi+j*w+i] / float64(k)
						}
					}
				}
				if k := len(p.out[v]); k > 0 {
					for _, e := range p.out[v] {
						u := g.Edges[e].To
						for i := range din {
							dPrev[u][i] += d * m.Params[o.wo+j*w+i] / float64(k)
						}
					}
				}
			}
		}
		dh = dPrev
	}
}

// Example is one labelled window for training: the graph and the index of
// its root-cause node.
type Example struct {
	Graph  *Graph
	Target int
	Weight float64 // relative weight in the loss (0: 1)
}

// TrainConfig configures Train.
type TrainConfig struct {
	Hidden, Layers int
	Members        int // networks trained, each from its own initial weights (0: one)
	Epochs         int
	LearningRate   float64
	L2             float64
	Seed           uint64
}

// Train fits a model by full-batch Adam on the softmax cross-entropy of
// the target node, each member on its own from its initial weights, up to
// GOMAXPROCS members at once (forward and backward only read the graphs);
// deterministic for a given config and example order. Its loss is the
// members' mean.
func Train(examples []Example, cfg TrainConfig) *Model {
	members := make([]*Model, max(cfg.Members, 1))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for k := range members {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			members[k] = trainMember(examples, cfg, k)
		})
	}
	wg.Wait()
	m := members[0]
	for _, mk := range members[1:] {
		m.Params = append(m.Params, mk.Params...)
		m.Members++
		m.Trained.Loss += mk.Trained.Loss
	}
	m.Trained.Loss /= float64(len(members))
	return m
}

// trainMember fits member k.
func trainMember(examples []Example, cfg TrainConfig, k int) *Model {
	m := newMember(cfg.Hidden, cfg.Layers, cfg.Seed, k)
	np := len(m.Params)
	grad, mom, vel := make([]float64, np), make([]float64, np), make([]float64, np)
	const beta1, beta2, eps = 0.9, 0.999, 1e-8
	var total float64
	for _, ex := range examples {
		total += weightOf(ex)
	}
	var loss float64
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		clear(grad)
		loss = 0
		for _, ex := range examples {
			w := weightOf(ex) / total
			loss += w * m.lossGrad(ex, grad, w)
		}
		for i := range grad {
			grad[i] += cfg.L2 * m.Params[i]
			mom[i] = beta1*mom[i] + (1-beta1)*grad[i]
			vel[i] = beta2*vel[i] + (1-beta2)*grad[i]*grad[i]
			mh := mom[i] / (1 - math.Pow(beta1, float64(epoch)))
			vh := vel[i] / (1 - math.Pow(beta2, float64(epoch)))
			m.Params[i] -= cfg.LearningRate * mh / (math.Sqrt(vh) + eps)
		}
	}
	m.Trained = TrainInfo{Seed: cfg.Seed, Epochs: cfg.Epochs, Loss: loss}
	return m
}

func weightOf(ex Example) float64 {
	if ex.Weight > 0 {
		return ex.Weight
	}
	return 1
}

// lossGrad returns the example's cross-entropy and adds scale times its
// gradient to grad.
func (m *Model) lossGrad(ex Example, grad []float64, scale float64) float64 {
	p := m.forward(ex.Graph)
	prob := softmax(p.scores)
	ds := make([]float64, len(prob))
	for i := range prob {
		ds[i] = scale * prob[i]
	}
	ds[ex.Target] -= scale
	m.backward(ex.Graph, p, ds, grad)
	return -math.Log(math.Max(prob[ex.Target], 1e-300))
}

// Marshal encodes the model as a weights file.
func (m *Model) Marshal() ([]byte, error) { return json.MarshalIndent(m, "", " ") }
