// Package imageio decodes PNG and JPEG images and turns them into normalised CHW tensors.
//
// Decode reads only PNG (8- and 16-bit; grey, RGB, RGBA and paletted) and JPEG, chosen by
// the file's magic bytes, not by the image formats registered with package image.
// Spec.Tensor converts the channels (only when asked to), resizes with a bilinear filter,
// and normalises each channel. 16-bit images, such as depth maps, keep their 16-bit
// precision throughout.
package imageio

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"

	"github.com/dmrnet/dmrnet/internal/fileerr"
)

const pngMagic = "\x89PNG\r\n\x1a\n"

// MaxPixels bounds the size of the images Decode accepts: width x height at most 8192 x 8192
// pixels (67 megapixels). The size is read from the file's header before any pixel is
// decoded, since a small file can declare a huge image (a 1 MB PNG of 20000 x 20000 pixels
// decodes into more than 8 GB). Tensor needs about 24 bytes per pixel of an RGB image on
// top of the decoded image (4 or 8 bytes per pixel), so an image at the limit takes about
// 2 GB while it is converted, one image per CPU. Programs may lower or raise it before
// decoding.
var MaxPixels = 8192 * 8192

// ReadFile decodes the PNG or JPEG file at path.
func ReadFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileerr.Open(path, err)
	}
	defer f.Close()
	return Decode(f, path)
}

// Decode reads a PNG or JPEG image from r, recognised by its first bytes. The name is
// used in error messages only. An image of more than MaxPixels pixels is refused after its
// header is read, before its pixels are decoded. Errors never quote the file's content.
func Decode(r io.Reader, name string) (image.Image, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(12)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: reading image data: %v", name, err)
	}
	switch {
	case bytes.HasPrefix(head, []byte(pngMagic)):
		return decodeBounded(br, name, "PNG", png.DecodeConfig, png.Decode)
	case bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff}):
		return decodeBounded(br, name, "JPEG", jpeg.DecodeConfig, jpeg.Decode)
	}
	if len(head) == 0 {
		return nil, fmt.Errorf("%s: empty file (want a PNG or JPEG image)", name)
	}
	// The message names the format, never the bytes: the file may be anything a manifest
	// points to, and its content must not leak into logs.
	what := ""
	switch {
	case bytes.HasPrefix(head, []byte("GIF8")):
		what = "a GIF image"
	case bytes.HasPrefix(head, []byte("BM")):
		what = "a BMP image"
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		what = "a TIFF image"
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		what = "a WebP image"
	}
	if what == "" {
		return nil, fmt.Errorf("%s: not a PNG or JPEG image (its first bytes match no image format; convert it to PNG)", name)
	}
	return nil, fmt.Errorf("%s: not a PNG or JPEG image but %s (convert it to PNG)", name, what)
}

// decodeBounded reads the image's header with decodeConfig, checks its size against
// MaxPixels, then decodes the whole image from the header's bytes and the rest of r.
func decodeBounded(r io.Reader, name, format string, decodeConfig func(io.Reader) (image.Config, error), decode func(io.Reader) (image.Image, error)) (image.Image, error) {
	var header bytes.Buffer
	cfg, err := decodeConfig(io.TeeReader(r, &header))
	if err != nil {
		return nil, fmt.Errorf("%s: corrupt or unsupported %s file: %v", name, format, eofText(err))
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	img, err := decode(io.MultiReader(&header, r))
	if err != nil {
		return nil, fmt.Errorf("%s: corrupt or unsupported %s file: %v", name, format, eofText(err))
	}
	return img, nil
}

// checkSize refuses images of more than MaxPixels pixels.
func checkSize(w, h int) error {
	if w < 0 || h < 0 || w > MaxPixels || h > MaxPixels || w*h > MaxPixels {
		return fmt.Errorf("the image has %d x %d pixels, more than the %d (%.0f megapixels) dmrnet decodes (downscale it, e.g. to the model's input size)",
			w, h, MaxPixels, float64(MaxPixels)/1e6)
	}
	return nil
}

// eofText makes the decoders' end-of-file errors say what they mean.
func eofText(err error) string {
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return "the file is truncated (unexpected end of file)"
	}
	return err.Error()
}

// Channels returns the number of colour channels of img: 1 for grey images (image.Gray,
// image.Gray16, and paletted images whose palette holds only greys), 3 for all others.
// Alpha channels are not counted; Tensor ignores them.
func Channels(img image.Image) int {
	switch im := img.(type) {
	case *image.Gray, *image.Gray16:
		return 1
	case *image.Paletted:
		for _, c := range im.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			if n.R != n.G || n.G != n.B {
				return 3
			}
		}
		return 1
	}
	return 3
}

// Is16Bit reports whether img holds 16-bit samples (image.Gray16, image.RGBA64 or
// image.NRGBA64, as the PNG decoder returns for 16-bit files).
func Is16Bit(img image.Image) bool {
	switch img.(type) {
	case *image.Gray16, *image.RGBA64, *image.NRGBA64:
		return true
	}
	return false
}

// Spec says how Tensor turns an image into model input.
type Spec struct {
	// Channels is the number of channels the model expects: 1 (grey) or 3 (RGB).
	Channels int
	// Height and Width are the size of the output in pixels.
	Height, Width int
	// Mean and Std hold one value per channel: the output is (v/Scale - Mean[c]) / Std[c].
	Mean, Std []float64
	// Convert allows changing the number of channels: a grey image is replicated into
	// three, an RGB(A) image becomes grey by ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B;
	// and it allows dropping an alpha channel that is not fully opaque. Without it, an image
	// with a different number of channels, or with transparent pixels, is an error.
	Convert bool
	// Scale divides the raw sample values before normalising: 255 for 8-bit values, 65535
	// for 16-bit. 0 means automatic: 65535 for 16-bit images, 255 otherwise.
	Scale float64
}

// check panics if s cannot be used.
func (s Spec) check() {
	switch {
	case s.Channels != 1 && s.Channels != 3:
		panic(fmt.Sprintf("imageio: Spec.Channels is %d, want 1 or 3", s.Channels))
	case s.Height <= 0 || s.Width <= 0:
		panic(fmt.Sprintf("imageio: Spec size %d x %d, want positive Height and Width", s.Height, s.Width))
	case len(s.Mean) != s.Channels || len(s.Std) != s.Channels:
		panic(fmt.Sprintf("imageio: Spec has %d means and %d deviations for %d channels", len(s.Mean), len(s.Std), s.Channels))
	case s.Scale < 0 || math.IsNaN(s.Scale) || math.IsInf(s.Scale, 0):
		panic(fmt.Sprintf("imageio: Spec.Scale is %v, want 0 (automatic) or a positive number", s.Scale))
	}
	for c, v := range s.Std {
		if !(v > 0) || math.IsInf(v, 0) {
			panic(fmt.Sprintf("imageio: Spec.Std[%d] is %v, want a positive number", c, v))
		}
	}
}

// Tensor turns img into a Channels x Height x Width row-major tensor: channel conversion
// when Convert is set, bilinear resizing to Height x Width, then (v/Scale - Mean[c]) / Std[c].
// An alpha channel is not an input: a fully opaque one is ignored, and one with any
// transparent pixel is an error unless Convert is set, which drops it (the colour values are
// used as stored, not blended with a background). The name is used in error messages only.
// It panics if s is invalid.
//
// Resizing follows golang.org/x/image/draw's BiLinear kernel, computed in float64 without
// rounding to 8 or 16 bits: output pixel x samples the source at
// (x + 0.5) * srcW/dstW - 0.5 (pixel centres aligned, as PyTorch's align_corners=False)
// with a triangle filter of radius 1 source pixel, clamped at the edges. When shrinking,
// the filter widens to srcW/dstW source pixels so that every source pixel contributes
// (antialiasing, as PIL's and torchvision's bilinear resize). An image of the target
// size is not resampled.
func (s Spec) Tensor(img image.Image, name string) ([]float32, error) {
	s.check()
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w == 0 || h == 0 {
		return nil, fmt.Errorf("%s: the image is empty (%d x %d pixels)", name, w, h)
	}
	if !s.Convert && !opaque(img) {
		return nil, fmt.Errorf("%s: the image has transparent pixels (an alpha channel below 100%%), which the model cannot take (save it without transparency, or set convert: true to drop the alpha channel)", name)
	}
	planes := rawPlanes(img)
	if len(planes) != s.Channels {
		if !s.Convert {
			return nil, fmt.Errorf("%s: the image has %s, the model expects %s (set convert: true to %s)",
				name, channelText(len(planes)), channelText(s.Channels), convertText(s.Channels))
		}
		if s.Channels == 3 {
			planes = [][]float64{planes[0], planes[0], planes[0]}
		} else {
			gray := make([]float64, w*h)
			for i := range gray {
				gray[i] = 0.299*planes[0][i] + 0.587*planes[1][i] + 0.114*planes[2][i]
			}
			planes = [][]float64{gray}
		}
	}
	scale := s.Scale
	if scale == 0 {
		scale = 255
		if Is16Bit(img) {
			scale = 65535
		}
	}
	n := s.Height * s.Width
	out := make([]float32, s.Channels*n)
	var resized []float64
	for c, p := range planes {
		if c == 0 || &p[0] != &planes[c-1][0] { // replicated grey planes are resized once
			resized = resize(p, w, h, s.Width, s.Height)
		}
		dst := out[c*n : (c+1)*n]
		for i, v := range resized {
			dst[i] = float32((v/scale - s.Mean[c]) / s.Std[c])
		}
	}
	return out, nil
}

// opaque reports whether every pixel of img is fully opaque (true for images without alpha).
func opaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if _, _, _, a := img.At(x, y).RGBA(); a != 0xffff {
				return false
			}
		}
	}
	return true
}

// channelText describes a channel count for error messages.
func channelText(c int) string {
	if c == 1 {
		return "1 channel (grey)"
	}
	return "3 channels (RGB)"
}

// convertText says what conversion to the wanted channel count does.
func convertText(want int) string {
	if want == 1 {
		return "convert it to grey by ITU-R 601 luma"
	}
	return "replicate its grey channel into RGB"
}

// rawPlanes returns the colour channels of img as row-major planes of raw sample values:
// 0..255 for 8-bit images, 0..65535 for 16-bit ones (see Is16Bit). Alpha is dropped and
// colour is not premultiplied by it.
func rawPlanes(img image.Image) [][]float64 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	nc := Channels(img)
	planes := make([][]float64, nc)
	for c := range planes {
		planes[c] = make([]float64, w*h)
	}
	set3 := func(i int, r, g, bl uint16) {
		planes[0][i], planes[1][i], planes[2][i] = float64(r), float64(g), float64(bl)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			px, py := b.Min.X+x, b.Min.Y+y
			switch im := img.(type) {
			case *image.Gray:
				planes[0][i] = float64(im.GrayAt(px, py).Y)
			case *image.Gray16:
				planes[0][i] = float64(im.Gray16At(px, py).Y)
			case *image.NRGBA:
				c := im.NRGBAAt(px, py)
				set3(i, uint16(c.R), uint16(c.G), uint16(c.B))
			case *image.NRGBA64:
				c := im.NRGBA64At(px, py)
				set3(i, c.R, c.G, c.B)
			case *image.RGBA:
				// what PNG and JPEG decoders return for opaque colour images: an opaque
				// pixel is its own non-premultiplied colour, without the generic
				// conversion's per-pixel allocation; other pixels take the generic path
				if c := im.RGBAAt(px, py); c.A == 0xff {
					set3(i, uint16(c.R), uint16(c.G), uint16(c.B))
				} else {
					c := color.NRGBAModel.Convert(c).(color.NRGBA)
					set3(i, uint16(c.R), uint16(c.G), uint16(c.B))
				}
			default:
				if Is16Bit(img) {
					c := color.NRGBA64Model.Convert(img.At(px, py)).(color.NRGBA64)
					if nc == 1 {
						planes[0][i] = float64(c.R)
					} else {
						set3(i, c.R, c.G, c.B)
					}
				} else {
					c := color.NRGBAModel.Convert(img.At(px, py)).(color.NRGBA)
					if nc == 1 {
						planes[0][i] = float64(c.R)
					} else {
						set3(i, uint16(c.R), uint16(c.G), uint16(c.B))
					}
				}
			}
		}
	}
	return planes
}

// contrib is the weight of one source pixel in an output pixel.
type contrib struct {
	src int
	w   float64
}

// resizeWeights returns, for each of dst output positions, the normalised weights of the
// src source positions, following golang.org/x/image/draw's Kernel.Scale with the
// BiLinear (triangle, support 1) kernel.
func resizeWeights(dst, src int) [][]contrib {
	scale := float64(src) / float64(dst)
	half, argScale := 1.0, 1.0
	if scale > 1 {
		half, argScale = scale, 1/scale
	}
	out := make([][]contrib, dst)
	for x := range out {
		centre := (float64(x)+0.5)*scale - 0.5
		lo := max(int(math.Floor(centre-half)), 0)
		hi := min(int(math.Ceil(centre+half)), src)
		total := 0.0
		for s := lo; s < hi; s++ {
			t := math.Abs(centre-float64(s)) * argScale
			if t >= 1 {
				continue
			}
			out[x] = append(out[x], contrib{s, 1 - t})
			total += 1 - t
		}
		for k := range out[x] {
			out[x][k].w /= total
		}
	}
	return out
}

// resize resamples a row-major sw x sh plane to dw x dh: rows first, then columns. A plane
// of the target size is returned as is.
func resize(p []float64, sw, sh, dw, dh int) []float64 {
	if sw == dw && sh == dh {
		return p
	}
	xw, yw := resizeWeights(dw, sw), resizeWeights(dh, sh)
	tmp := make([]float64, sh*dw)
	for y := 0; y < sh; y++ {
		row := p[y*sw : (y+1)*sw]
		for x, cs := range xw {
			v := 0.0
			for _, c := range cs {
				v += c.w * row[c.src]
			}
			tmp[y*dw+x] = v
		}
	}
	out := make([]float64, dh*dw)
	for y, cs := range yw {
		dst := out[y*dw : (y+1)*dw]
		for _, c := range cs {
			src := tmp[c.src*dw : (c.src+1)*dw]
			for x, v := range src {
				dst[x] += c.w * v
			}
		}
	}
	return out
}
