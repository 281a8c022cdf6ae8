package metrics

import (
	"math"
	"sort"
)

// Threshold-based presentation-attack-detection metrics (ISO/IEC 30107-3 style) of a
// two-class task. Every sample has a score, the probability of the bona fide (live) class,
// and a threshold t accepts a sample as live when score >= t and rejects it as an attack
// otherwise. At a threshold:
//
//	APCER(t) = attacks with score >= t / attacks     (attacks accepted as live)
//	BPCER(t) = live samples with score < t / live     (bona fide rejected)
//
// Attack is the positive class of the detector: APCER is its false negative rate and BPCER
// its false positive rate. The ROC plots APCER (x) against BPCER (y); AUC is the area under
// the usual curve of 1 - BPCER against APCER, i.e. the probability that a random live sample
// scores higher than a random attack, ties counting one half. With no live sample or no attack
// every rate that needs them is NaN ("n/a"), never 0.

// ROCPoint is one operating point: the rates at threshold Threshold.
type ROCPoint struct {
	Threshold float64 `json:"threshold"`
	APCER     float64 `json:"apcer"`
	BPCER     float64 `json:"bpcer"`
}

// ROC returns the operating points of scores with labels live (true: bona fide), one per
// distinct score (in decreasing order of threshold, so increasing APCER and decreasing BPCER)
// after a first point at threshold +Inf that accepts nothing (APCER 0, BPCER 1). It returns
// nil when there is no live sample or no attack. It panics if the slices differ in length.
func ROC(scores []float64, live []bool) []ROCPoint {
	if len(scores) != len(live) {
		panic("metrics: ROC: scores and labels differ in length")
	}
	idx := make([]int, len(scores))
	nl, na := 0, 0
	for i := range idx {
		idx[i] = i
		if live[i] {
			nl++
		} else {
			na++
		}
	}
	if nl == 0 || na == 0 {
		return nil
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	pts := []ROCPoint{{Threshold: math.Inf(1), APCER: 0, BPCER: 1}}
	accL, accA := 0, 0
	for k := 0; k < len(idx); {
		s := scores[idx[k]]
		for k < len(idx) && scores[idx[k]] == s {
			if live[idx[k]] {
				accL++
			} else {
				accA++
			}
			k++
		}
		pts = append(pts, ROCPoint{Threshold: s, APCER: float64(accA) / float64(na), BPCER: float64(nl-accL) / float64(nl)})
	}
	return pts
}

// AUC returns the area under the ROC of pts (1 - BPCER against APCER, trapezoids), NaN for
// an empty curve.
func AUC(pts []ROCPoint) float64 {
	if len(pts) == 0 {
		return math.NaN()
	}
	a := 0.0
	for i := 1; i < len(pts); i++ {
		p, q := pts[i-1], pts[i]
		a += (q.APCER - p.APCER) * ((1 - p.BPCER) + (1 - q.BPCER)) / 2
	}
	return a
}

// EER returns the equal error rate of pts and the threshold that reaches it. The curve
// through the operating points starts at APCER 0, BPCER 1 and ends at APCER 1, BPCER 0, so
// APCER - BPCER changes sign between two consecutive points p (APCER <= BPCER) and q
// (APCER >= BPCER); the EER is where the straight segment from p to q crosses APCER = BPCER
// (linear interpolation, the rate a random choice between the two thresholds achieves), and
// the threshold is that of the one of p and q whose |APCER - BPCER| is smaller (p, the higher
// threshold, on a tie). Both are NaN for an empty curve.
func EER(pts []ROCPoint) (eer, threshold float64) {
	if len(pts) == 0 {
		return math.NaN(), math.NaN()
	}
	for i := 1; i < len(pts); i++ {
		p, q := pts[i-1], pts[i]
		dp, dq := p.BPCER-p.APCER, q.APCER-q.BPCER // dp >= 0 before the crossing
		if dq < 0 {
			continue
		}
		if dp+dq == 0 {
			return p.APCER, p.Threshold
		}
		s := dp / (dp + dq)
		eer = p.APCER + s*(q.APCER-p.APCER)
		if dq < dp {
			return eer, q.Threshold
		}
		return eer, p.Threshold
	}
	// Unreachable for a curve from ROC, which ends at APCER 1, BPCER 0.
	last := pts[len(pts)-1]
	return (last.APCER + last.BPCER) / 2, last.Threshold
}

// BPCERAtAPCER returns the smallest BPCER of the operating points with APCER <= target, and
// the highest threshold that reaches it; NaN for an empty curve.
func BPCERAtAPCER(pts []ROCPoint, target float64) (bpcer, threshold float64) {
	bpcer, threshold = math.NaN(), math.NaN()
	for _, p := range pts {
		if p.APCER > target+1e-12 {
			break
		}
		if math.IsNaN(bpcer) || p.BPCER < bpcer {
			bpcer, threshold = p.BPCER, p.Threshold
		}
	}
	return bpcer, threshold
}

// RatesAt returns APCER, BPCER and ACER of scores at threshold t (live when score >= t).
// APCER is NaN without attacks, BPCER without live samples, ACER when either is.
func RatesAt(scores []float64, live []bool, t float64) (apcer, bpcer, acer float64) {
	var nl, na, rejL, accA int
	for i, s := range scores {
		if live[i] {
			nl++
			if !(s >= t) {
				rejL++
			}
		} else {
			na++
			if s >= t {
				accA++
			}
		}
	}
	apcer, bpcer = math.NaN(), math.NaN()
	if na > 0 {
		apcer = float64(accA) / float64(na)
	}
	if nl > 0 {
		bpcer = float64(rejL) / float64(nl)
	}
	return apcer, bpcer, (apcer + bpcer) / 2
}
