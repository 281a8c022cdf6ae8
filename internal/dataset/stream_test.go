package dataset

import (
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/imageio"
)

// allRows lists the samples 0..n-1.
func allRows(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// TestStreamMatchesLoad checks that a streamed manifest, after the same hold-out and
// standardisation (a streaming pass over the audio modality), decodes every sample of every
// split to exactly the values LoadManifest holds in memory, with the same norms.
func TestStreamMatchesLoad(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prefetch int
		holdOut  float64
	}{
		{"default prefetch", 0, 0},
		{"prefetch 1, val", 1, 0.25},
		{"prefetch 3, val", 3, 0.25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem, std, err := LoadManifest(fixtureSpec(t))
			if err != nil {
				t.Fatal(err)
			}
			str, sstd, err := StreamManifest(fixtureSpec(t), StreamOptions{Prefetch: tc.prefetch})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(std, sstd) || len(std) == 0 {
				t.Fatalf("standardisation %+v, streamed %+v", std, sstd)
			}
			for _, d := range []*Dataset{mem, str} {
				d.HoldOut(tc.holdOut, 7)
				if err := d.Standardize(std, nil); err != nil {
					t.Fatal(err)
				}
				if err := d.Validate(); err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(mem.Norms, str.Norms) {
				t.Fatalf("norms differ:\n%+v\n%+v", mem.Norms, str.Norms)
			}
			if !str.Train.Streamed() || mem.Train.Streamed() {
				t.Fatal("Streamed() is wrong")
			}
			want := tc.prefetch
			if want == 0 {
				want = DefaultPrefetch
			}
			if str.Train.Prefetch() != want {
				t.Fatalf("prefetch %d, want %d", str.Train.Prefetch(), want)
			}
			for _, sp := range [][2]*Split{{mem.Train, str.Train}, {mem.Val, str.Val}, {mem.Test, str.Test}} {
				if (sp[0] == nil) != (sp[1] == nil) {
					t.Fatal("splits differ")
				}
				if sp[0] == nil {
					continue
				}
				if !reflect.DeepEqual(sp[0].Y, sp[1].Y) || !reflect.DeepEqual(sp[0].Avail, sp[1].Avail) {
					t.Fatal("labels or availability differ")
				}
				got, err := sp[1].Materialize(str.Modalities)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got.X, sp[0].X) {
					t.Fatal("decoded values differ from the in-memory data")
				}
			}
			// with stored norms (evaluation of a checkpoint) the same values again
			again, _, err := StreamManifest(fixtureSpec(t), StreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			again.HoldOut(tc.holdOut, 7)
			if err := again.Standardize(std, mem.Norms); err != nil {
				t.Fatal(err)
			}
			got, err := again.Test.Materialize(again.Modalities)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.X, mem.Test.X) {
				t.Fatal("stored norms: decoded values differ")
			}
		})
	}
}

// TestBatchesPrefetchBound consumes a plan of batches and checks that every batch holds the
// samples the plan names and that no more than the prefetch count of batches are ever
// decoded and waiting, also when the consumer lets the decoder run as far as it can.
func TestBatchesPrefetchBound(t *testing.T) {
	mem, _, err := LoadManifest(fixtureSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prefetch, batch int
	}{{1, 5}, {2, 3}, {4, 4}, {8, 7}} {
		str, _, err := StreamManifest(fixtureSpec(t), StreamOptions{Prefetch: tc.prefetch})
		if err != nil {
			t.Fatal(err)
		}
		// raw values: the audio is not standardised in either
		perm := []int{}
		for i := str.Train.Len() - 1; i >= 0; i -= 2 {
			perm = append(perm, i)
		}
		for i := 0; i < str.Train.Len(); i += 2 {
			perm = append(perm, i)
		}
		var plan [][]int
		for lo := 0; lo < len(perm); lo += tc.batch {
			plan = append(plan, perm[lo:min(lo+tc.batch, len(perm))])
		}
		for _, wait := range []bool{false, true} {
			b := str.Train.Batches(str.Modalities, plan)
			var x [][]float32
			for k, idx := range plan {
				if wait {
					// let the decoder fill every free buffer before taking a batch
					for b.Peak() < min(tc.prefetch, len(plan)-k) && k == 0 {
						runtime.Gosched()
					}
					for range 100 {
						runtime.Gosched()
					}
				}
				if x, err = b.Next(x); err != nil {
					t.Fatal(err)
				}
				want, _ := mem.Train.Gather(mem.Modalities, idx, nil)
				if !reflect.DeepEqual(x, want) {
					t.Fatalf("prefetch %d: batch %d differs", tc.prefetch, k)
				}
			}
			if _, err := b.Next(x); err == nil {
				t.Fatal("Next past the plan's end succeeded")
			}
			b.Close()
			b.Close()
			if p := b.Peak(); p > tc.prefetch || p < 1 {
				t.Fatalf("prefetch %d: up to %d batches were decoded ahead", tc.prefetch, p)
			}
			if wait && b.Peak() != min(tc.prefetch, len(plan)) {
				t.Fatalf("prefetch %d: the decoder ran %d batches ahead, want %d", tc.prefetch, b.Peak(), min(tc.prefetch, len(plan)))
			}
		}
		// closing before the end stops the decoder
		b := str.Train.Batches(str.Modalities, plan)
		if _, err := b.Next(nil); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
}

// TestStreamBadFile checks that a bad file reached mid-stream gives the error, in one line
// naming the file and its manifest line, that LoadManifest gives, and stops the stream.
func TestStreamBadFile(t *testing.T) {
	dir := t.TempDir()
	good := image.NewGray(image.Rect(0, 0, 2, 2))
	for i := range good.Pix {
		good.Pix[i] = uint8(40 * i)
	}
	f, err := os.Create(filepath.Join(dir, "ok.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, good); err != nil {
		t.Fatal(err)
	}
	f.Close()
	write(t, dir, "bad.png", "this is not a png")
	colour := image.NewRGBA(image.Rect(0, 0, 2, 2))
	for i := range colour.Pix {
		colour.Pix[i] = uint8(30 * i)
	}
	f, _ = os.Create(filepath.Join(dir, "colour.png"))
	png.Encode(f, colour)
	f.Close()
	for _, bad := range []string{"bad.png", "missing.png", "colour.png"} {
		var b strings.Builder
		b.WriteString("id,label,split,g\n")
		for i := range 20 {
			file, split := "ok.png", "train"
			if i == 13 {
				file = bad
			}
			if i >= 16 {
				split = "test"
			}
			b.WriteString(strings.Join([]string{string(rune('a' + i)), []string{"live", "spoof"}[i%2], split, file}, ",") + "\n")
		}
		spec := ManifestSpec{Path: write(t, dir, "m.csv", b.String()), IDColumn: "id", LabelColumn: "label", SplitColumn: "split",
			ClassNames: []string{"live", "spoof"},
			Modalities: []ManifestModality{{Name: "g", Column: "g", Type: "image", Image: imageio2x2()}}}
		_, _, want := LoadManifest(spec)
		if want == nil {
			t.Fatalf("%s: LoadManifest succeeded", bad)
		}
		d, _, err := StreamManifest(spec, StreamOptions{Prefetch: 2})
		if err != nil {
			t.Fatalf("%s: StreamManifest = %v (files are read when a batch needs them)", bad, err)
		}
		var plan [][]int
		for lo := 0; lo < d.Train.Len(); lo += 4 {
			plan = append(plan, allRows(d.Train.Len())[lo:min(lo+4, d.Train.Len())])
		}
		bt := d.Train.Batches(d.Modalities, plan)
		var got error
		batches := 0
		for range plan {
			if _, got = bt.Next(nil); got != nil {
				break
			}
			batches++
		}
		bt.Close()
		if batches != 3 {
			t.Errorf("%s: %d batches before the error, want 3 (the bad file is in the fourth)", bad, batches)
		}
		if got == nil || got.Error() != want.Error() || !errors.Is(got, ErrInvalid) {
			t.Errorf("%s: streamed error\n%v\nwant\n%v", bad, got, want)
		}
		if strings.Contains(got.Error(), "\n") || !strings.Contains(got.Error(), "line 15") || !strings.Contains(got.Error(), bad) {
			t.Errorf("%s: error %q does not name the line and file in one line", bad, got)
		}
		if _, err := bt.Next(nil); err == nil {
			t.Errorf("%s: Next after the error succeeded", bad)
		}
	}
}

// imageio2x2 is a 2 x 2 grey image modality without normalisation.
func imageio2x2() imageio.Spec {
	return imageio.Spec{Channels: 1, Height: 2, Width: 2, Mean: []float64{0}, Std: []float64{1}}
}

// TestBatchesOf checks that a streamed split decodes only the modalities asked for (the
// others are zero) and an in-memory split still gathers all of them.
func TestBatchesOf(t *testing.T) {
	mem, _, err := LoadManifest(fixtureSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	str, _, err := StreamManifest(fixtureSpec(t), StreamOptions{Prefetch: 2})
	if err != nil {
		t.Fatal(err)
	}
	plan := [][]int{{0, 1, 2, 3, 4}, {5, 6, 7}}
	for _, need := range []combo.Set{1, 2, 5, 7} {
		b, m := str.Train.BatchesOf(str.Modalities, plan, need), mem.Train.BatchesOf(mem.Modalities, plan, need)
		for k, idx := range plan {
			got, err := b.Next(nil)
			if err != nil {
				t.Fatal(err)
			}
			all, err := m.Next(nil)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := mem.Train.Gather(mem.Modalities, idx, nil)
			if !reflect.DeepEqual(all, want) {
				t.Fatalf("need %03b, batch %d: the in-memory split did not gather every modality", need, k)
			}
			for mi := range str.Modalities {
				w := want[mi]
				if !need.Has(mi) {
					w = make([]float32, len(w))
				}
				if !reflect.DeepEqual(got[mi], w) {
					t.Fatalf("need %03b, batch %d, modality %d differs", need, k, mi)
				}
			}
		}
		b.Close()
		m.Close()
	}
}

// TestEachTrainRowChunks checks that the streaming statistics pass visits the training rows
// of a modality in the in-memory order, whatever the chunk size.
func TestEachTrainRowChunks(t *testing.T) {
	mem, _, err := LoadManifest(fixtureSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	str, _, err := StreamManifest(fixtureSpec(t), StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	collect := func(d *Dataset, m, chunk int) [][]float32 {
		var rows [][]float32
		if err := d.eachTrainRow(m, chunk, func(r []float32) { rows = append(rows, append([]float32(nil), r...)) }); err != nil {
			t.Fatal(err)
		}
		return rows
	}
	for m := range mem.Modalities {
		want := collect(mem, m, normChunk)
		if len(want) == 0 {
			t.Fatalf("modality %d: no rows", m)
		}
		for _, chunk := range []int{1, 5, 7, len(want), normChunk} {
			if got := collect(str, m, chunk); !reflect.DeepEqual(got, want) {
				t.Fatalf("modality %d, chunk %d: rows differ", m, chunk)
			}
		}
	}
}
