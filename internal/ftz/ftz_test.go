package ftz

import (
	"math"
	"testing"
)

func TestFlush(t *testing.T) {
	nan32, nan64 := float32(math.NaN()), math.NaN()
	tests := []struct {
		name string
		in   float64 // converted to float32 for Flush32 unless only64
		want float64
		neg  bool // the result is -0
	}{
		{"smallest normal", 0x1p-126, 0x1p-126, false},
		{"just above", 0x1.000002p-126, 0x1.000002p-126, false},
		{"largest subnormal", 0x0.fffffep-126, 0, false},
		{"smallest subnormal", 0x1p-149, 0, false},
		{"negative subnormal", -0x1p-127, 0, true},
		{"negative normal", -0x1p-126, -0x1p-126, false},
		{"zero", 0, 0, false},
		{"negative zero", math.Copysign(0, -1), 0, true},
		{"one", 1, 1, false},
		{"infinity", math.Inf(-1), math.Inf(-1), false},
	}
	for _, tc := range tests {
		got := Flush32(float32(tc.in))
		if got != float32(tc.want) || math.Signbit(float64(got)) != (tc.neg || tc.want < 0) {
			t.Errorf("Flush32(%s %g) = %g, want %g (negative zero %v)", tc.name, tc.in, got, tc.want, tc.neg)
		}
		if g := Flush(float32(tc.in)); math.Float32bits(g) != math.Float32bits(got) {
			t.Errorf("Flush[float32](%s) = %g, Flush32 %g", tc.name, g, got)
		}
	}
	if got := Flush32(nan32); !math.IsNaN(float64(got)) || math.Float32bits(got) != math.Float32bits(nan32) {
		t.Errorf("Flush32(NaN) = %v, want the same NaN", got)
	}

	tests64 := []struct {
		name     string
		in, want float64
		wantNegZ bool
	}{
		{"smallest normal", 0x1p-1022, 0x1p-1022, false},
		{"largest subnormal", math.Nextafter(0x1p-1022, 0), 0, false},
		{"float32 subnormal is normal", 0x1p-127, 0x1p-127, false},
		{"negative subnormal", -0x1p-1030, 0, true},
		{"negative zero", math.Copysign(0, -1), 0, true},
	}
	for _, tc := range tests64 {
		got := Flush64(tc.in)
		if got != tc.want || math.Signbit(got) != (tc.wantNegZ || tc.want < 0) {
			t.Errorf("Flush64(%s %g) = %g, want %g (negative zero %v)", tc.name, tc.in, got, tc.want, tc.wantNegZ)
		}
		if g := Flush(tc.in); math.Float64bits(g) != math.Float64bits(got) {
			t.Errorf("Flush[float64](%s) = %g, Flush64 %g", tc.name, g, got)
		}
	}
	if got := Flush64(nan64); math.Float64bits(got) != math.Float64bits(nan64) {
		t.Errorf("Flush64(NaN) = %v, want the same NaN", got)
	}
}
