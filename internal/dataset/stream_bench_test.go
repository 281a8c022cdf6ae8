package dataset

import (
	"testing"

	"github.com/dmrnet/dmrnet/internal/imageio"
	"github.com/dmrnet/dmrnet/internal/manifestgen"
)

// BenchmarkStreamDecode measures the decoding of batches of 128 samples of a generated
// manifest (64 x 64 grey and RGB PNGs), the work a streamed data set does per batch.
func BenchmarkStreamDecode(b *testing.B) {
	dir := b.TempDir()
	path, err := manifestgen.Write(dir, manifestgen.Spec{Samples: 512, Classes: 4, Size: 64, TestEvery: 4, MissingGray: 0.1, MissingRGB: 0.1, Noise: 40, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	spec := ManifestSpec{Path: path, IDColumn: "id", LabelColumn: "label", SplitColumn: "split",
		Modalities: []ManifestModality{
			{Name: "gray", Column: "gray", Type: "image", Image: imageio.Spec{Channels: 1, Height: 64, Width: 64, Mean: []float64{0.4}, Std: []float64{0.3}}},
			{Name: "rgb", Column: "rgb", Type: "image", Image: imageio.Spec{Channels: 3, Height: 64, Width: 64, Mean: []float64{0.5, 0.5, 0.5}, Std: []float64{0.3, 0.3, 0.3}}},
		}}
	d, _, err := StreamManifest(spec, StreamOptions{})
	if err != nil {
		b.Fatal(err)
	}
	idx := allRows(128)
	var x [][]float32
	b.ResetTimer()
	for range b.N {
		if x, err = d.Train.Gather(d.Modalities, idx, x); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(idx))/b.Elapsed().Seconds(), "samples/s")
}
