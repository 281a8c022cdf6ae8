package aggregate

import (
	"fmt"
	"strings"

	"github.com/dmrnet/dmrnet/internal/specialist"
)

// GroupCost is the cost of robustness of one group: how far its accuracy falls short of
// that of the specialists, each trained for one combination only.
type GroupCost struct {
	// Group is the group's label.
	Group string `json:"group"`
	// MeanGap is the mean, over the compared combinations, of the group's mean accuracy
	// minus the specialist's mean accuracy; negative where the group is worse.
	MeanGap float64 `json:"mean_gap"`
	// WorstGap is the most negative gap (the smallest, when none is negative).
	WorstGap float64 `json:"worst_gap"`
	// WorstCombination is the combination of WorstGap; ties go to the first in row order.
	WorstCombination string `json:"worst_combination"`
	// N is the number of compared combinations.
	N int `json:"n"`
}

// AddSpecialists compares t with the specialists in set. It sets the Specialist cell of
// every combination row that has a specialist in set, matched by name (the specialist's
// mean and sample standard deviation over its seeds, N the number of seeds), and clears it
// on the others; and it sets Costs to one GroupCost per group, over the combinations where
// both the group and a specialist have a value. Groups without such a combination get no
// GroupCost, and Costs is nil when no row has a specialist.
//
// Specialists are compared by accuracy: for a table of another metric AddSpecialists only
// clears the specialist cells and Costs. A nil set clears them too. The caller should check
// that set's modalities are t's (see specialist.Set.Check).
func (t *Table) AddSpecialists(set *specialist.Set) {
	t.Costs = nil
	for i := range t.Rows {
		t.Rows[i].Specialist, t.Rows[i].Gaps = nil, nil
	}
	if set == nil || t.Metric != "accuracy" {
		return
	}
	found := false
	for i := range t.Rows {
		r := &t.Rows[i]
		if r.Summary {
			continue
		}
		e, ok := set.Lookup(r.Combination)
		if !ok {
			continue
		}
		r.Specialist = &Cell{Mean: e.Accuracy, Std: e.Std, N: max(len(e.Seeds), 1)}
		r.Gaps = make([]*float64, len(t.Groups))
		for g := range r.Gaps {
			if g < len(r.Cells) && r.Cells[g].N > 0 {
				gap := r.Cells[g].Mean - e.Accuracy
				r.Gaps[g] = &gap
			}
		}
		found = true
	}
	if !found {
		return
	}
	for g, label := range t.Groups {
		c := GroupCost{Group: label}
		var sum float64
		for _, r := range t.Rows {
			if r.Gaps == nil || r.Gaps[g] == nil {
				continue
			}
			gap := *r.Gaps[g]
			sum += gap
			if c.N == 0 || gap < c.WorstGap {
				c.WorstGap, c.WorstCombination = gap, r.Combination
			}
			c.N++
		}
		if c.N > 0 {
			c.MeanGap = sum / float64(c.N)
			t.Costs = append(t.Costs, c)
		}
	}
}

// hasSpecialists reports whether a row of t has a specialist.
func (t *Table) hasSpecialists() bool {
	for _, r := range t.Rows {
		if r.Specialist != nil {
			return true
		}
	}
	return false
}

// costLines returns one line per GroupCost, e.g. "cost of robustness (dmrnet): mean gap
// -0.41 points, worst rgb -1.9 (6 combinations)".
func (t *Table) costLines() []string {
	lines := make([]string, len(t.Costs))
	for i, c := range t.Costs {
		lines[i] = fmt.Sprintf("cost of robustness (%s): mean gap %+.2f points, worst %s %+.1f (%d %s)",
			c.Group, 100*c.MeanGap, c.WorstCombination, 100*c.WorstGap, c.N, plural(c.N, "combination", "combinations"))
	}
	return lines
}

// specialistText formats the specialist cell of r: "-" for a combination without one,
// empty for a summary row.
func specialistText(r TableRow) string {
	switch {
	case r.Specialist != nil:
		return cellText(*r.Specialist, 0)
	case r.Summary:
		return ""
	}
	return "-"
}

// specialistNote is appended to the description when the table has specialists.
const specialistNote = "; 'specialist' = a model trained on that combination only, mean±std over its seeds; (±g) after a cell = its gap to the specialist in points"

// joinLines joins lines, each followed by sep.
func joinLines(lines []string, sep string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + sep)
	}
	return b.String()
}
