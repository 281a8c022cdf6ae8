package imageio

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/image/draw"
)

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gray(w, h int, pix ...uint8) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	copy(img.Pix, pix)
	return img
}

func gray16(w, h int, pix ...uint16) *image.Gray16 {
	img := image.NewGray16(image.Rect(0, 0, w, h))
	for i, v := range pix {
		img.SetGray16(i%w, i/w, color.Gray16{v})
	}
	return img
}

func rgba(w, h int, pix ...color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i, c := range pix {
		img.SetNRGBA(i%w, i/w, c)
	}
	return img
}

// unit is a spec that leaves raw values divided by Scale: mean 0, std 1.
func unit(ch, h, w int, scale float64, convert bool) Spec {
	s := Spec{Channels: ch, Height: h, Width: w, Scale: scale, Convert: convert}
	for range ch {
		s.Mean = append(s.Mean, 0)
		s.Std = append(s.Std, 1)
	}
	return s
}

func nearSlice(t *testing.T, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range got {
		if math.Abs(float64(got[i])-want[i]) > tol {
			t.Fatalf("value %d: got %v, want %v\ngot  %v\nwant %v", i, got[i], want[i], got, want)
		}
	}
}

func TestDecodeFormats(t *testing.T) {
	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.NRGBA{255, 0, 0, 255}, color.NRGBA{0, 0, 255, 255}})
	pal.Pix = []uint8{1, 0}
	grayPal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.Gray{10}, color.Gray{200}})
	grayPal.Pix = []uint8{1, 0}
	rgb16 := image.NewNRGBA64(image.Rect(0, 0, 1, 1))
	rgb16.SetNRGBA64(0, 0, color.NRGBA64{1000, 2000, 65535, 65535})
	tests := []struct {
		name     string
		img      image.Image
		channels int
		is16     bool
		want     []float64 // raw values, CHW
	}{
		{"gray 8-bit", gray(2, 1, 0, 255), 1, false, []float64{0, 255}},
		{"gray 16-bit", gray16(2, 1, 1, 65534), 1, true, []float64{1, 65534}},
		{"RGBA, opaque", rgba(1, 1, color.NRGBA{10, 20, 30, 255}), 3, false, []float64{10, 20, 30}},
		{"RGB 16-bit", rgb16, 3, true, []float64{1000, 2000, 65535}},
		{"paletted colour", pal, 3, false, []float64{0, 255, 0, 0, 255, 0}},
		{"paletted grey", grayPal, 1, false, []float64{200, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Decode(bytes.NewReader(encodePNG(t, tt.img)), "x.png")
			if err != nil {
				t.Fatal(err)
			}
			if Channels(img) != tt.channels || Is16Bit(img) != tt.is16 {
				t.Fatalf("%T: Channels %d, Is16Bit %v; want %d, %v", img, Channels(img), Is16Bit(img), tt.channels, tt.is16)
			}
			b := img.Bounds()
			got, err := unit(tt.channels, b.Dy(), b.Dx(), 1, false).Tensor(img, "x.png")
			if err != nil {
				t.Fatal(err)
			}
			nearSlice(t, got, tt.want, 0)
		})
	}
}

func TestDecodeJPEG(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range src.Pix {
		src.Pix[i] = []uint8{200, 100, 50, 255}[i%4]
	}
	for _, tc := range []struct {
		name     string
		img      image.Image
		channels int
		want     []float64
	}{
		{"colour", src, 3, []float64{200, 100, 50}},
		{"grey", gray(8, 8, bytes.Repeat([]byte{77}, 64)...), 1, []float64{77}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := jpeg.Encode(&b, tc.img, &jpeg.Options{Quality: 100}); err != nil {
				t.Fatal(err)
			}
			img, err := Decode(&b, "x.jpg")
			if err != nil {
				t.Fatal(err)
			}
			if Channels(img) != tc.channels {
				t.Fatalf("%T has %d channels, want %d", img, Channels(img), tc.channels)
			}
			got, err := unit(tc.channels, 1, 1, 1, false).Tensor(img, "x.jpg")
			if err != nil {
				t.Fatal(err)
			}
			nearSlice(t, got, tc.want, 2) // JPEG is lossy
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := encodePNG(t, gray(4, 4, bytes.Repeat([]byte{9}, 16)...))
	corrupt := append([]byte{}, valid...)
	corrupt[len(corrupt)-20] ^= 0xff // inside the IDAT chunk or its checksum
	badCRC := append([]byte{}, valid...)
	badCRC[19] ^= 0xff // low byte of the width in the IHDR chunk: its CRC no longer matches
	tests := []struct {
		name  string
		input []byte
		want  string
	}{
		{"empty", nil, "dir/a.png: empty file (want a PNG or JPEG image)"},
		{"text", []byte("hello, world"), "dir/a.png: not a PNG or JPEG image (its first bytes match no image format; convert it to PNG)"},
		{"gif", []byte("GIF89a\x01\x00\x01\x00"), "dir/a.png: not a PNG or JPEG image but a GIF image (convert it to PNG)"},
		{"webp", []byte("RIFF\x10\x00\x00\x00WEBPVP8 "), "dir/a.png: not a PNG or JPEG image but a WebP image (convert it to PNG)"},
		{"truncated PNG", valid[:40], "dir/a.png: corrupt or unsupported PNG file: the file is truncated (unexpected end of file)"},
		{"bad CRC", badCRC, "dir/a.png: corrupt or unsupported PNG file: png: invalid format: invalid checksum"},
		{"corrupt PNG", corrupt, "dir/a.png: corrupt or unsupported PNG file: "},
		{"truncated JPEG", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 16}, "dir/a.png: corrupt or unsupported JPEG file: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Decode(bytes.NewReader(tt.input), "dir/a.png")
			if err == nil {
				t.Fatalf("no error; decoded %T", img)
			}
			msg := err.Error()
			if strings.HasSuffix(tt.want, ": ") && !strings.HasPrefix(msg, tt.want) || !strings.HasSuffix(tt.want, ": ") && msg != tt.want {
				t.Errorf("got  %q\nwant %q", msg, tt.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q is not one line", msg)
			}
		})
	}
}

func TestConversion(t *testing.T) {
	g := gray(2, 1, 10, 250)
	c := rgba(2, 1, color.NRGBA{255, 0, 0, 255}, color.NRGBA{10, 20, 30, 255})
	g16 := gray16(1, 1, 30000)
	tests := []struct {
		name string
		img  image.Image
		spec Spec
		want []float64
	}{
		{"grey to RGB replicates", g, unit(3, 1, 2, 1, true), []float64{10, 250, 10, 250, 10, 250}},
		{"RGB to grey by luma", c, unit(1, 1, 2, 1, true), []float64{0.299 * 255, 0.299*10 + 0.587*20 + 0.114*30}},
		{"same channels with Convert", c, unit(3, 1, 2, 1, true), []float64{255, 10, 0, 20, 0, 30}},
		{"16-bit grey to RGB", g16, unit(3, 1, 1, 1, true), []float64{30000, 30000, 30000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.spec.Tensor(tt.img, "x.png")
			if err != nil {
				t.Fatal(err)
			}
			nearSlice(t, got, tt.want, 1e-3)
		})
	}
}

func TestChannelMismatch(t *testing.T) {
	tests := []struct {
		name string
		img  image.Image
		spec Spec
		want string
	}{
		{"RGB image, grey model", rgba(1, 1, color.NRGBA{1, 2, 3, 255}), unit(1, 1, 1, 0, false),
			"photos/cat.png: the image has 3 channels (RGB), the model expects 1 channel (grey) (set convert: true to convert it to grey by ITU-R 601 luma)"},
		{"grey image, RGB model", gray(1, 1, 5), unit(3, 1, 1, 0, false),
			"photos/cat.png: the image has 1 channel (grey), the model expects 3 channels (RGB) (set convert: true to replicate its grey channel into RGB)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.spec.Tensor(tt.img, "photos/cat.png")
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
	if _, err := unit(1, 1, 1, 0, false).Tensor(image.NewGray(image.Rect(0, 0, 0, 3)), "e.png"); err == nil || !strings.HasPrefix(err.Error(), "e.png: the image is empty") {
		t.Fatalf("empty image: got %v", err)
	}
}

// TestAlpha checks that transparency is not silently lost: an image with a transparent pixel
// is an error unless convert is set, which drops the alpha channel and keeps the colour as
// stored; a fully opaque alpha channel is accepted either way.
func TestAlpha(t *testing.T) {
	translucent := rgba(2, 1, color.NRGBA{10, 20, 30, 255}, color.NRGBA{40, 50, 60, 128})
	for _, img := range []image.Image{translucent, decodePNG(t, translucent)} {
		_, err := unit(3, 1, 2, 1, false).Tensor(img, "photos/cat.png")
		want := "photos/cat.png: the image has transparent pixels (an alpha channel below 100%), which the model cannot take (save it without transparency, or set convert: true to drop the alpha channel)"
		if err == nil || err.Error() != want {
			t.Fatalf("%T with alpha 128, convert false: got %v\nwant %s", img, err, want)
		}
		got, err := unit(3, 1, 2, 1, true).Tensor(img, "photos/cat.png")
		if err != nil {
			t.Fatalf("%T, convert true: %v", img, err)
		}
		nearSlice(t, got, []float64{10, 40, 20, 50, 30, 60}, 0)
	}
	grey := image.NewNRGBA64(image.Rect(0, 0, 1, 1))
	grey.SetNRGBA64(0, 0, color.NRGBA64{1000, 1000, 1000, 0})
	if _, err := unit(3, 1, 1, 1, false).Tensor(grey, "d.png"); err == nil {
		t.Fatal("16-bit image with alpha 0 accepted without convert")
	}
	opaque := rgba(1, 1, color.NRGBA{1, 2, 3, 255})
	if _, err := unit(3, 1, 1, 1, false).Tensor(opaque, "x.png"); err != nil {
		t.Fatalf("opaque RGBA: %v", err)
	}
}

func decodePNG(t *testing.T, img image.Image) image.Image {
	t.Helper()
	out, err := Decode(bytes.NewReader(encodePNG(t, img)), "x.png")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestResize checks bilinear upscaling by hand. Output pixel x samples the source at
// (x + 0.5) * 2/4 - 0.5 = -0.25, 0.25, 0.75, 1.25; positions outside [0, 1] clamp to the
// edge pixel, so the weights of source pixels (0, 1) are (1, 0), (0.75, 0.25),
// (0.25, 0.75), (0, 1) along each axis.
func TestResize(t *testing.T) {
	img := gray(2, 2,
		0, 100,
		200, 40)
	got, err := unit(1, 4, 4, 1, false).Tensor(img, "x.png")
	if err != nil {
		t.Fatal(err)
	}
	// Rows 0 and 3 interpolate the source rows along x; rows 1 and 2 mix them 3:1 and 1:3.
	want := []float64{
		0, 25, 75, 100,
		50, 58.75, 76.25, 85,
		150, 126.25, 78.75, 55,
		200, 160, 80, 40,
	}
	nearSlice(t, got, want, 1e-4)

	// Shrinking 4 -> 2 widens the triangle filter to a radius of 2 source pixels (weight
	// 1 - d/2 at distance d), centred at (x + 0.5) * 2 - 0.5 = 0.5 and 2.5; the weights are
	// renormalised to sum to 1.
	row := gray(4, 1, 0, 60, 120, 180)
	got, err = unit(1, 1, 2, 1, false).Tensor(row, "x.png")
	if err != nil {
		t.Fatal(err)
	}
	// Output 0: centre 0.5; distances to pixels 0, 1, 2 are 0.5, 0.5, 1.5 -> triangle
	// weights (1 - d/2) 0.75, 0.75, 0.25 -> (0*0.75 + 60*0.75 + 120*0.25) / 1.75.
	// Output 1: centre 2.5; pixels 1, 2, 3 at 1.5, 0.5, 0.5 -> 0.25, 0.75, 0.75.
	nearSlice(t, got, []float64{(45 + 30) / 1.75, (15 + 90 + 135) / 1.75}, 1e-4)
}

// TestResizeMatchesXImage compares the float resampler with golang.org/x/image/draw's
// BiLinear into a 16-bit image, which rounds to whole 16-bit values.
func TestResizeMatchesXImage(t *testing.T) {
	src := image.NewGray16(image.Rect(0, 0, 7, 5))
	for i := range 35 {
		src.SetGray16(i%7, i/7, color.Gray16{uint16((i * 7919) % 65536)})
	}
	for _, size := range []image.Point{{3, 2}, {7, 5}, {15, 11}, {4, 9}, {1, 1}} {
		dst := image.NewGray16(image.Rect(0, 0, size.X, size.Y))
		draw.BiLinear.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
		got, err := unit(1, size.Y, size.X, 1, false).Tensor(src, "x.png")
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			if want := float64(dst.Gray16At(i%size.X, i/size.X).Y); math.Abs(float64(v)-want) > 1 {
				t.Fatalf("%v: pixel %d = %v, x/image gives %v", size, i, v, want)
			}
		}
	}
}

func TestNormalise(t *testing.T) {
	tests := []struct {
		name string
		img  image.Image
		spec Spec
		want []float64
	}{
		{"MNIST statistics", gray(2, 1, 0, 255), Spec{Channels: 1, Height: 1, Width: 2, Mean: []float64{0.1307}, Std: []float64{0.3081}},
			[]float64{-0.1307 / 0.3081, (1 - 0.1307) / 0.3081}},
		{"per channel", rgba(1, 1, color.NRGBA{255, 51, 0, 255}), Spec{Channels: 3, Height: 1, Width: 1, Mean: []float64{0.5, 0.2, 0}, Std: []float64{0.5, 0.1, 2}},
			[]float64{1, 0, 0}},
		{"16-bit automatic scale", gray16(3, 1, 0, 257, 65535), Spec{Channels: 1, Height: 1, Width: 3, Mean: []float64{0}, Std: []float64{1}},
			[]float64{0, 257.0 / 65535, 1}},
		{"16-bit precision kept", gray16(2, 1, 300, 301), Spec{Channels: 1, Height: 1, Width: 2, Mean: []float64{0}, Std: []float64{1}, Scale: 1},
			[]float64{300, 301}},
		{"explicit scale on 8-bit", gray(1, 1, 128), Spec{Channels: 1, Height: 1, Width: 1, Mean: []float64{1}, Std: []float64{1}, Scale: 128},
			[]float64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.spec.Tensor(tt.img, "x.png")
			if err != nil {
				t.Fatal(err)
			}
			nearSlice(t, got, tt.want, 1e-6)
		})
	}
}

// TestDepthPNGRoundTrip checks that a 16-bit grey PNG depth map keeps values that 8 bits
// cannot tell apart.
func TestDepthPNGRoundTrip(t *testing.T) {
	img, err := Decode(bytes.NewReader(encodePNG(t, gray16(3, 1, 1000, 1001, 1255))), "depth.png")
	if err != nil {
		t.Fatal(err)
	}
	got, err := unit(1, 1, 3, 0, false).Tensor(img, "depth.png")
	if err != nil {
		t.Fatal(err)
	}
	nearSlice(t, got, []float64{1000.0 / 65535, 1001.0 / 65535, 1255.0 / 65535}, 1e-9)
	if got[0] == got[1] {
		t.Fatal("16-bit values were merged")
	}
}

func TestSpecPanics(t *testing.T) {
	img := gray(1, 1, 0)
	for _, s := range []Spec{
		{Channels: 2, Height: 1, Width: 1, Mean: []float64{0, 0}, Std: []float64{1, 1}},
		{Channels: 1, Height: 0, Width: 1, Mean: []float64{0}, Std: []float64{1}},
		{Channels: 1, Height: 1, Width: 1, Mean: []float64{0, 1}, Std: []float64{1}},
		{Channels: 1, Height: 1, Width: 1, Mean: []float64{0}, Std: []float64{0}},
		{Channels: 1, Height: 1, Width: 1, Mean: []float64{0}, Std: []float64{1}, Scale: -1},
	} {
		func() {
			defer func() {
				if r, ok := recover().(string); !ok || !strings.HasPrefix(r, "imageio: ") {
					t.Errorf("%+v: recovered %v, want an imageio: panic", s, r)
				}
			}()
			s.Tensor(img, "x.png")
		}()
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.png")
	if err := os.WriteFile(p, encodePNG(t, gray(1, 1, 7)), 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := ReadFile(p)
	if err != nil || img.(*image.Gray).Pix[0] != 7 {
		t.Fatalf("ReadFile = %v, %v", img, err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.png")); err == nil || !strings.Contains(err.Error(), "missing.png") {
		t.Fatalf("missing file: got %v", err)
	}
}

// TestRGBAFastPath checks that the planes of an *image.RGBA, read through its opaque-pixel
// fast path, are exactly those of the generic conversion, for opaque, translucent and
// transparent pixels.
func TestRGBAFastPath(t *testing.T) {
	img := image.NewRGBA(image.Rect(3, 5, 20, 16))
	rng := uint32(7)
	next := func() uint8 { rng = rng*1664525 + 1013904223; return uint8(rng >> 24) }
	for i := 0; i < len(img.Pix); i += 4 {
		a := uint8(0xff)
		switch next() % 3 {
		case 1:
			a = next()
		case 2:
			a = 0
		}
		for c := range 3 {
			img.Pix[i+c] = uint8(uint16(next()) * uint16(a) / 0xff) // premultiplied: <= a
		}
		img.Pix[i+3] = a
	}
	generic := struct{ image.Image }{img} // hides the concrete type: the generic path
	if got, want := rawPlanes(img), rawPlanes(generic); !reflect.DeepEqual(got, want) {
		t.Fatal("the RGBA fast path differs from the generic conversion")
	}
}
