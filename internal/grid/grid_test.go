package grid

import (
	"slices"
	"strings"
	"testing"
)

func TestResolveKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"loss.beta", "loss.beta"},
		{"beta", "loss.beta"},
		{"lr", "optim.lr"},
		{"alpha", "loss.alpha"},
		{"beta1", "optim.beta1"},
		{"eps", "optim.eps"},
		{"bn_eps", "model.bn_eps"},
		{"variant", "variant"},
		{"layers", "model.encoder.layers"},
		{"encoder.layers", "model.encoder.layers"},
		{"synthetic.seed", "data.synthetic.seed"},
		{"data.synthetic.seed", "data.synthetic.seed"},
		{"hard.warmup_epochs", "hard.warmup_epochs"},
		{" Beta ", "loss.beta"},
		{"model.encoders", "model.encoders"},
		{"model.encoders.rgb.layers", "model.encoders.rgb.layers"},
		{"dropout.probs.rgb+ir", "dropout.probs.rgb+ir"},
	} {
		got, err := ResolveKey(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ResolveKey(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestResolveKeyErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // substrings of the error
	}{
		{"seed", []string{`"seed"`, "--seeds"}},
		{"train.seed", []string{`"train.seed"`, "--seeds"}},
		{"out", []string{`"out"`, "--out"}},
		{"", []string{"empty grid key"}},
		{"warmup_epochs", []string{`"warmup_epochs" is ambiguous`, "hard.warmup_epochs or schedule.warmup_epochs"}},
		{"name", []string{"ambiguous", "optim.name or schedule.name"}},
		{"class_names", []string{"ambiguous", "data.synthetic.class_names, data.table.class_names or data.manifest.class_names"}},
		{"betta", []string{`grid key "betta" is not a configuration key`, "did you mean", "loss.beta"}},
		{"loss.gamma", []string{`"loss.gamma" is not a configuration key`, "schedule.gamma"}},
		{"zzzzzz", []string{`"zzzzzz" is not a configuration key`, "loss.beta"}},
		{"oss.beta", []string{"not a configuration key", "loss.beta"}},
		{"model.encoder.layers.x", []string{"not a configuration key", "model.encoder.layers"}},
		{"dropout", []string{`"dropout" is a section`, "dropout.mode, dropout.probs"}},
	} {
		_, err := ResolveKey(tc.in)
		if err == nil {
			t.Errorf("ResolveKey(%q): no error", tc.in)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("ResolveKey(%q): multi-line error %q", tc.in, msg)
		}
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("ResolveKey(%q) = %q; want it to contain %q", tc.in, msg, w)
			}
		}
	}
}

func TestKeys(t *testing.T) {
	keys := Keys()
	for _, k := range []string{"variant", "loss.beta", "optim.lr", "model.encoders", "dropout.probs", "data.synthetic.seed", "train.max_loss"} {
		if !slices.Contains(keys, k) {
			t.Errorf("Keys() lacks %q", k)
		}
	}
	for _, k := range []string{"train.seed", "out", "data", "model.encoder"} {
		if slices.Contains(keys, k) {
			t.Errorf("Keys() has %q", k)
		}
	}
	for _, k := range keys {
		if got, err := ResolveKey(k); err != nil || got != k {
			t.Errorf("ResolveKey(%q) = %q, %v", k, got, err)
		}
	}
}

func TestParseAxis(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Axis
	}{
		{"beta=0,0.1,0.2,0.5", Axis{Key: "loss.beta", Name: "beta", Values: []string{"0", "0.1", "0.2", "0.5"}}},
		{"loss.alpha=0,1e-3", Axis{Key: "loss.alpha", Name: "loss.alpha", Values: []string{"0", "1e-3"}}},
		{"variant=dmrnet,no-hcr", Axis{Key: "variant", Name: "variant", Values: []string{"dmrnet", "no-hcr"}}},
		{"lr=1e-3", Axis{Key: "optim.lr", Name: "lr", Values: []string{"1e-3"}}},
		{" lr = 1e-3 , 1e-4 ", Axis{Key: "optim.lr", Name: "lr", Values: []string{"1e-3", "1e-4"}}},
		{"model.encoder.layers=[64,32];[128,64]", Axis{Key: "model.encoder.layers", Name: "model.encoder.layers", Values: []string{"[64,32]", "[128,64]"}}},
		{"layers=[64,32],[128, 64],[256]", Axis{Key: "model.encoder.layers", Name: "layers", Values: []string{"[64,32]", "[128, 64]", "[256]"}}},
		{"dropout.probs={a: 1, a+b: 2};{a: 1}", Axis{Key: "dropout.probs", Name: "dropout.probs", Values: []string{"{a: 1, a+b: 2}", "{a: 1}"}}},
		{"dropout.probs={a: [1, 2]},{b: 1}", Axis{Key: "dropout.probs", Name: "dropout.probs", Values: []string{"{a: [1, 2]}", "{b: 1}"}}},
		{"synthetic.class_names=a,b;c,d", Axis{Key: "data.synthetic.class_names", Name: "synthetic.class_names", Values: []string{"a,b", "c,d"}}},
		{`variant="a,b",'c;d',"e\",f"`, Axis{Key: "variant", Name: "variant", Values: []string{`"a,b"`, `'c;d'`, `"e\",f"`}}},
		{"data.root=/a=b,/c", Axis{Key: "data.root", Name: "data.root", Values: []string{"/a=b", "/c"}}},
	} {
		got, err := ParseAxis(tc.in)
		if err != nil {
			t.Errorf("ParseAxis(%q): %v", tc.in, err)
			continue
		}
		if got.Key != tc.want.Key || got.Name != tc.want.Name || !slices.Equal(got.Values, tc.want.Values) {
			t.Errorf("ParseAxis(%q) = %#v; want %#v", tc.in, got, tc.want)
		}
	}
}

func TestParseAxisErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"beta", `missing '='`},
		{"=0,1", "missing key"},
		{"beta=", "value 1 of 1 is empty"},
		{"beta=0,,1", "value 2 of 3 is empty"},
		{"beta=0,1,", "value 3 of 3 is empty"},
		{"beta=0;", "value 2 of 2 is empty"},
		{"beta=0,0.1,0", `duplicate value "0"`},
		{"beta= 0 ,0", `duplicate value "0"`},
		{"layers=[64,32", `unclosed '['`},
		{"layers=[64,32}", `unbalanced '}'`},
		{"layers=64]", `unbalanced ']'`},
		{`variant="a,b`, "unterminated \" quote"},
		{"seed=0,1", "--seeds"},
		{"train.seed=0,1", "--seeds"},
		{"eps2=0", `grid key "eps2" is not a configuration key`},
		{"mode=once", "ambiguous"},
	} {
		_, err := ParseAxis(tc.in)
		if err == nil {
			t.Errorf("ParseAxis(%q): no error", tc.in)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("ParseAxis(%q) = %q; want one line containing %q", tc.in, msg, tc.want)
		}
	}
}

func TestParseAxes(t *testing.T) {
	axes, err := ParseAxes([]string{"beta=0,0.2", "lr=1e-3,1e-4", "variant=dmrnet,no-kl"})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, a := range axes {
		keys = append(keys, a.Key)
	}
	if want := []string{"loss.beta", "optim.lr", "variant"}; !slices.Equal(keys, want) {
		t.Errorf("keys %q; want %q", keys, want)
	}
	if axes, err := ParseAxes(nil); err != nil || len(axes) != 0 {
		t.Errorf("ParseAxes(nil) = %v, %v", axes, err)
	}
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"beta=0", "lr=1", "beta=1"}, `grid key "beta" is given twice`},
		{[]string{"beta=0", "loss.beta=1"}, `grid keys "beta" and "loss.beta" both set loss.beta`},
		{[]string{"beta=0", "betta=1"}, `"betta" is not a configuration key`},
	} {
		if _, err := ParseAxes(tc.flags); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseAxes(%q) = %v; want an error containing %q", tc.flags, err, tc.want)
		}
	}
}
