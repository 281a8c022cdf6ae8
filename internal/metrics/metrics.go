// Package metrics provides classification metrics computed from a
// confusion matrix: accuracy, macro-averaged F1 and, for two-class
// presentation-attack-detection tasks, APCER, BPCER and ACER.
package metrics

import (
	"errors"
	"fmt"
)

// Confusion is a confusion matrix for a classification task with
// Classes classes. M[t][p] counts the samples whose true class is t
// and whose predicted class is p.
type Confusion struct {
	Classes int
	M       [][]int
}

// NewConfusion returns an empty Classes×Classes confusion matrix.
// It panics if classes is not positive.
func NewConfusion(classes int) *Confusion {
	if classes <= 0 {
		panic(fmt.Sprintf("metrics: invalid number of classes %d", classes))
	}
	m := make([][]int, classes)
	for i := range m {
		m[i] = make([]int, classes)
	}
	return &Confusion{Classes: classes, M: m}
}

// Add records one sample with true class y and predicted class pred.
// It panics if either label is outside [0, Classes).
func (c *Confusion) Add(y, pred int) {
	if y < 0 || y >= c.Classes {
		panic(fmt.Sprintf("metrics: true label %d out of range [0, %d)", y, c.Classes))
	}
	if pred < 0 || pred >= c.Classes {
		panic(fmt.Sprintf("metrics: predicted label %d out of range [0, %d)", pred, c.Classes))
	}
	c.M[y][pred]++
}

// N returns the total number of recorded samples.
func (c *Confusion) N() int {
	n := 0
	for _, row := range c.M {
		for _, v := range row {
			n += v
		}
	}
	return n
}

// Accuracy returns the fraction of samples on the diagonal of the
// matrix, or 0 if no samples have been recorded.
func (c *Confusion) Accuracy() float64 {
	n := c.N()
	if n == 0 {
		return 0
	}
	correct := 0
	for i := 0; i < c.Classes; i++ {
		correct += c.M[i][i]
	}
	return float64(correct) / float64(n)
}

// MacroF1 returns the unweighted mean of the per-class F1 scores
// F1 = 2PR/(P+R), where P and R are the precision and recall of the
// class. As with scikit-learn's default labels, the mean is taken over
// the classes that occur among the true labels or the predictions;
// classes that never occur are ignored. A class with no true positives
// has F1 0. MacroF1 returns 0 if no samples have been recorded.
func (c *Confusion) MacroF1() float64 {
	var sum float64
	var k int
	for i := 0; i < c.Classes; i++ {
		tp := c.M[i][i]
		actual, predicted := 0, 0
		for j := 0; j < c.Classes; j++ {
			actual += c.M[i][j]
			predicted += c.M[j][i]
		}
		if actual == 0 && predicted == 0 {
			continue
		}
		k++
		if tp == 0 {
			continue
		}
		// 2PR/(P+R) with P = tp/predicted and R = tp/actual
		// simplifies to 2tp/(actual+predicted).
		sum += 2 * float64(tp) / float64(actual+predicted)
	}
	if k == 0 {
		return 0
	}
	return sum / float64(k)
}

// Binary returns the presentation-attack-detection error rates of a
// two-class matrix in which class live is the bona fide class and the
// other class is the attack class:
//
//	APCER = attacks predicted live / attacks
//	BPCER = live samples predicted attack / live samples
//	ACER  = (APCER + BPCER) / 2
//
// A class with no samples gives a rate of 0 for the corresponding error
// (APCER when there are no attacks, BPCER when there are no live
// samples). Binary returns an error if Classes is not 2 or live is not
// 0 or 1.
func (c *Confusion) Binary(live int) (apcer, bpcer, acer float64, err error) {
	if c.Classes != 2 {
		return 0, 0, 0, fmt.Errorf("metrics: binary metrics need 2 classes, have %d", c.Classes)
	}
	if live != 0 && live != 1 {
		return 0, 0, 0, errors.New("metrics: live class must be 0 or 1")
	}
	attack := 1 - live
	apcer = rate(c.M[attack][live], c.M[attack][live]+c.M[attack][attack])
	bpcer = rate(c.M[live][attack], c.M[live][attack]+c.M[live][live])
	return apcer, bpcer, (apcer + bpcer) / 2, nil
}

func rate(num, den int) float64 {
	if den == 0 {
		return 0
	}
	return float64(num) / float64(den)
}
