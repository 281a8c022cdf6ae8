package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func f(v float64) *float64 { return &v }

func protocolSweep() *Sweep {
	rows := []Row{
		{Present: []string{"rgb"}, Name: "rgb", Accuracy: 0.9, MacroF1: 0.9, N: 10, APCER: f(0.1), BPCER: f(0.1), ACER: f(0.1),
			Protocol: &Protocol{AUC: f(0.95), EER: f(0.1), EERThreshold: f(0.4), Threshold: f(0.45), APCER: f(0.2), BPCER: f(0), ACER: f(0.1), Rule: "eer on val",
				BPCERAt: []BPCERAt{{APCER: 0.01, BPCER: f(0.5), Threshold: f(0.9)}, {APCER: 0.05, BPCER: f(0.3), Threshold: f(0.8)}, {APCER: 0.1, BPCER: f(0.1), Threshold: f(0.5)}}}},
		{Present: []string{"ir"}, Name: "ir", Accuracy: 0.6, MacroF1: 0.5, N: 10, APCER: f(0), BPCER: f(0.8), ACER: f(0.4),
			// All test samples of ir are live: every protocol rate that needs attacks is n/a.
			Protocol: &Protocol{Threshold: f(0.5), BPCER: f(0.8), Rule: "eer on val",
				BPCERAt: []BPCERAt{{APCER: 0.01}, {APCER: 0.05}, {APCER: 0.1}}}},
	}
	s := NewSweep([]string{"rgb", "ir"}, []string{"live", "spoof"}, rows)
	s.Split = "test"
	s.Protocol = &ProtocolSummary{Rule: "eer", Applied: "eer", ThresholdSplit: "val"}
	s.Summarise()
	return s
}

func TestProtocolJSON(t *testing.T) {
	s := protocolSweep()
	var buf bytes.Buffer
	if err := s.Write(&buf, "json"); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	p := raw["protocol"].(map[string]any)
	if p["threshold_applied"] != "eer" || p["threshold_split"] != "val" || p["mean_auc"].(float64) != 0.95 || p["mean_acer"].(float64) != 0.1 {
		t.Errorf("sweep protocol = %v", p)
	}
	rows := raw["combinations"].([]any)
	ir := rows[1].(map[string]any)
	if _, ok := ir["accuracy"]; !ok {
		t.Error("existing field accuracy missing")
	}
	ip := ir["protocol"].(map[string]any)
	for _, k := range []string{"auc", "eer", "eer_threshold", "apcer", "acer"} {
		if v, ok := ip[k]; !ok || v != nil {
			t.Errorf("ir protocol %s = %v (present %v), want null", k, v, ok)
		}
	}
	if ip["bpcer"].(float64) != 0.8 {
		t.Errorf("ir bpcer = %v", ip["bpcer"])
	}
	var back Sweep
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Combinations[0].Protocol == nil || *back.Combinations[0].Protocol.AUC != 0.95 || back.Combinations[1].Protocol.AUC != nil {
		t.Errorf("round trip: %+v", back.Combinations)
	}
}

func TestProtocolRenderings(t *testing.T) {
	s := protocolSweep()
	for format, want := range map[string][]string{
		"table": {"protocol (threshold: each combination's EER threshold on the val split, applied to the test split",
			"combination  AUC     EER %  threshold  APCER %  BPCER %  ACER %  BPCER@APCER1%  BPCER@APCER5%  BPCER@APCER10%",
			"rgb          0.9500  10.00  0.4500     20.00    0.00     10.00   50.00          30.00          10.00",
			"ir           n/a     n/a    0.5000     n/a      80.00    n/a     n/a            n/a            n/a",
			"mean         0.9500  10.00                               10.00"},
		"markdown": {"| combination | AUC | EER % |", "| rgb | 0.9500 | 10.00 |"},
		"csv": {",hard,auc,eer,eer_threshold,threshold,apcer_at_threshold,bpcer_at_threshold,acer_at_threshold,bpcer_at_apcer_0.01,bpcer_at_apcer_0.05,bpcer_at_apcer_0.1\n",
			"rgb,rgb,10,0.9,0.9,0.1,0.1,0.1,false,0.95,0.1,0.4,0.45,0.2,0,0.1,0.5,0.3,0.1\n",
			"ir,ir,10,0.6,0.5,0,0.8,0.4,false,,,,0.5,,0.8,,,,\n",
			"mean,,,0.75,0.7,,,0.25,,0.95,0.1,,,,,0.1,,,\n"},
	} {
		var buf bytes.Buffer
		if err := s.Write(&buf, format); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("%s lacks %q:\n%s", format, w, buf.String())
			}
		}
	}
	var buf bytes.Buffer
	if err := WriteRow(&buf, s.Combinations[0], s.Classes, "text"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"combination:  rgb\n", "  AUC:               0.9500", "  EER:               10.00% (threshold 0.4000)", "  BPCER@APCER<=5%:   30.00%", "  threshold:         0.4500 (eer on val)", "  ACER@threshold:    10.00%"} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("eval text lacks %q:\n%s", w, buf.String())
		}
	}
}

func TestPlotROC(t *testing.T) {
	s := protocolSweep()
	s.Combinations[0].Protocol.ROC = nil
	if _, err := s.PlotROC("roc.svg"); err == nil {
		t.Error("PlotROC without curves: no error")
	}
}
