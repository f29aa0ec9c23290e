package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Severities is the number of severity levels of every corruption (1..5).
const Severities = 5

// corruptionDef is one corruption: its parameters per severity, described
// for people, and the operation.
type corruptionDef struct {
	name   string
	params [Severities]string
	// apply corrupts img (channels planes of Size×Size intensities in
	// [0, 1]) in place at severity s (0-based), drawing from r.
	apply func(img []float64, channels, s int, r *rand.Rand)
}

// The corruptions, in ImageNet-C's order (noise, blur, weather, digital).
// Parameters are CIFAR-10-C's (Hendrycks & Dietterich 2019, the 32×32
// version of ImageNet-C) except where CIFAR-10-C's severities are not
// ordered: the elastic transform (its severity 1 has the largest affine
// jitter), pixelate and motion blur (see their parameters);
// docs/representation.md gives each definition.
var corruptionDefs = []corruptionDef{
	{name: "gaussian_noise", params: paramList("σ %g", gaussianSigma[:]), apply: gaussianNoise},
	{name: "shot_noise", params: paramList("λ %g", shotLambda[:]), apply: shotNoise},
	{name: "impulse_noise", params: paramList("amount %g", impulseAmount[:]), apply: impulseNoise},
	{name: "defocus_blur", params: defocusParams(), apply: defocusBlur},
	{name: "motion_blur", params: motionParams(), apply: motionBlur},
	{name: "brightness", params: paramList("value +%g", brightnessShift[:]), apply: brightness},
	{name: "contrast", params: paramList("deviations ×%g", contrastFactor[:]), apply: contrast},
	{name: "elastic_transform", params: elasticParams(), apply: elastic},
	{name: "pixelate", params: pixelateParams(), apply: pixelate},
}

func paramList(format string, v []float64) (out [Severities]string) {
	for i := range out {
		out[i] = fmt.Sprintf(format, v[i])
	}
	return out
}

// CorruptionNames returns the names of the corruptions, in the order of
// ImageNet-C's tables.
func CorruptionNames() []string {
	out := make([]string, len(corruptionDefs))
	for i, c := range corruptionDefs {
		out[i] = c.name
	}
	return out
}

// Corruption is one corruption at one severity, e.g.
// Corruption{"motion_blur", 3}.
type Corruption struct {
	// Name is one of CorruptionNames.
	Name string `json:"corruption"`
	// Severity is 1 (mildest) to 5.
	Severity int `json:"severity"`
}

// String returns "name/severity".
func (c Corruption) String() string { return fmt.Sprintf("%s/%d", c.Name, c.Severity) }

func (c Corruption) def() (corruptionDef, error) {
	for _, d := range corruptionDefs {
		if d.name == c.Name {
			if c.Severity < 1 || c.Severity > Severities {
				return d, fmt.Errorf("data: corruption %s: severity %d is outside 1..%d", c.Name, c.Severity, Severities)
			}
			return d, nil
		}
	}
	return corruptionDef{}, fmt.Errorf("data: unknown corruption %q (known: %v)", c.Name, CorruptionNames())
}

// Validate reports an unknown name or a severity outside 1..5.
func (c Corruption) Validate() error {
	_, err := c.def()
	return err
}

// Params describes the corruption's parameters at its severity, e.g.
// "σ 0.08".
func (c Corruption) Params() string {
	d, err := c.def()
	if err != nil {
		return ""
	}
	return d.params[c.Severity-1]
}

// Apply writes into dst the image src corrupted by c, drawing random
// numbers from r. Images are channels planes of Size×Size intensities in
// [0, 1] (a byte v is v/255), row-major; dst and src have the same length
// and may be the same slice. The result is clipped to [0, 1].
func (c Corruption) Apply(dst, src []float64, channels int, r *rand.Rand) error {
	d, err := c.def()
	if err != nil {
		return err
	}
	if channels < 1 || len(src) != channels*Size*Size || len(dst) != len(src) {
		return fmt.Errorf("data: corrupt: %d values (and %d in dst) for an image of %d channels of %d×%d", len(src), len(dst), channels, Size, Size)
	}
	for _, v := range src {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("data: corrupt: intensity %v outside [0, 1]", v)
		}
	}
	copy(dst, src)
	d.apply(dst, channels, c.Severity-1, r)
	for i, v := range dst {
		dst[i] = math.Min(1, math.Max(0, v))
	}
	return nil
}

// CorruptionRand returns the generator of an image's corruption: ChaCha8
// keyed by the seed, the corruption's name and the image's index in its
// dataset. The severities of one image share their draws (the same noise
// pattern, blur direction or displacement field, scaled), and an image's
// corruption does not depend on which other images are corrupted with it.
func CorruptionRand(seed uint64, name string, index int) *rand.Rand {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(index))
	copy(key[16:], name)
	return rand.New(rand.NewChaCha8(key))
}

// Corrupted returns a new dataset holding the images of d at indices
// (in that order, with their labels) corrupted by c, each with
// CorruptionRand(seed, c.Name, index) and rounded back to bytes, as
// ImageNet-C and CIFAR-10-C store their images. workers goroutines share
// the images (0: GOMAXPROCS); the result does not depend on their number.
func (d *Dataset) Corrupted(indices []int, c Corruption, seed uint64, workers int) (*Dataset, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if len(indices) == 0 {
		return nil, errors.New("data: corrupt: no images")
	}
	for _, i := range indices {
		if i < 0 || i >= d.Len() {
			return nil, fmt.Errorf("data: corrupt: index %d is outside the %d images of %s %v", i, d.Len(), d.Info.Name, d.Split)
		}
	}
	n := d.imageLen()
	out := &Dataset{Info: d.Info, Split: d.Split, Images: make([]uint8, len(indices)*n), Labels: make([]uint8, len(indices))}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, len(indices)))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(indices)/workers, (w+1)*len(indices)/workers
		wg.Go(func() {
			img := make([]float64, n)
			for j := lo; j < hi; j++ {
				i := indices[j]
				for k, v := range d.Image(i) {
					img[k] = float64(v) / 255
				}
				if err := c.Apply(img, img, d.Info.Channels, CorruptionRand(seed, c.Name, i)); err != nil {
					errs[w] = err
					return
				}
				dst := out.Images[j*n : (j+1)*n]
				for k, v := range img {
					dst[k] = uint8(math.Round(255 * v))
				}
				out.Labels[j] = d.Labels[i]
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// --- noise ---

var (
	gaussianSigma = [Severities]float64{0.04, 0.06, 0.08, 0.09, 0.10}
	shotLambda    = [Severities]float64{500, 250, 100, 75, 50}
	impulseAmount = [Severities]float64{0.01, 0.02, 0.03, 0.05, 0.07}
)

// gaussianNoise adds independent N(0, σ²) noise to every value.
func gaussianNoise(img []float64, _, s int, r *rand.Rand) {
	for i := range img {
		img[i] += gaussianSigma[s] * r.NormFloat64()
	}
}

// shotNoise replaces every value x by Poisson(λx)/λ: photon counting noise,
// whose variance x/λ grows with the intensity.
func shotNoise(img []float64, _, s int, r *rand.Rand) {
	lam := shotLambda[s]
	for i, v := range img {
		img[i] = float64(poisson(r, lam*v)) / lam
	}
}

// impulseNoise sets a share "amount" of the values (each independently) to
// 0 or 1 with equal probability: salt and pepper. One uniform draw per
// value decides, so a value hit at one severity is hit at every higher one.
func impulseNoise(img []float64, _, s int, r *rand.Rand) {
	a := impulseAmount[s]
	for i := range img {
		u := r.Float64()
		switch {
		case u < a/2:
			img[i] = 0
		case u < a:
			img[i] = 1
		}
	}
}

// --- photometric ---

var (
	brightnessShift = [Severities]float64{0.05, 0.1, 0.15, 0.2, 0.3}
	contrastFactor  = [Severities]float64{0.75, 0.5, 0.4, 0.3, 0.15}
)

// brightness adds c to the value (V) of every pixel in HSV space, clipped
// to [0, 1], keeping hue and saturation; a grey image (one channel) has
// V = its intensity, so it gets x + c.
func brightness(img []float64, channels, s int, _ *rand.Rand) {
	c := brightnessShift[s]
	if channels != 3 {
		for i := range img {
			img[i] = math.Min(1, img[i]+c)
		}
		return
	}
	const n = Size * Size
	for p := range n {
		h, sat, v := rgbToHSV(img[p], img[n+p], img[2*n+p])
		img[p], img[n+p], img[2*n+p] = hsvToRGB(h, sat, math.Min(1, v+c))
	}
}

// contrast scales every value's deviation from its channel's mean by c.
func contrast(img []float64, channels, s int, _ *rand.Rand) {
	c := contrastFactor[s]
	const n = Size * Size
	for ch := range channels {
		plane := img[ch*n : (ch+1)*n]
		var m float64
		for _, v := range plane {
			m += v
		}
		m /= n
		for i, v := range plane {
			plane[i] = (v-m)*c + m
		}
	}
}

// rgbToHSV converts one pixel: hue in [0, 1), saturation and value in
// [0, 1].
func rgbToHSV(r, g, b float64) (h, s, v float64) {
	v = max(r, g, b)
	d := v - min(r, g, b)
	if v > 0 {
		s = d / v
	}
	if d == 0 {
		return 0, s, v
	}
	switch v {
	case r:
		h = (g - b) / d
	case g:
		h = 2 + (b-r)/d
	default:
		h = 4 + (r-g)/d
	}
	h /= 6
	if h < 0 {
		h++
	}
	return h, s, v
}

// hsvToRGB is rgbToHSV's inverse.
func hsvToRGB(h, s, v float64) (r, g, b float64) {
	h6 := h * 6
	i := math.Floor(h6)
	f := h6 - i
	p, q, t := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	switch int(i) % 6 {
	case 0:
		return v, t, p
	case 1:
		return q, v, p
	case 2:
		return p, v, t
	case 3:
		return p, q, v
	case 4:
		return t, p, v
	}
	return v, p, q
}

// --- spatial helpers ---

// reflect101 maps an index outside 0..n-1 back inside by mirroring about
// the edge pixels (…2 1 | 0 1 2 … n-1 | n-2 …), as OpenCV's default border.
func reflect101(i, n int) int {
	if n == 1 {
		return 0
	}
	for i < 0 || i >= n {
		if i < 0 {
			i = -i
		}
		if i >= n {
			i = 2*(n-1) - i
		}
	}
	return i
}

// convolve2D correlates every plane of img with the (2k+1)×(2k+1) kernel
// (row-major), borders mirrored by reflect101.
func convolve2D(img []float64, channels int, kernel []float64, k int) {
	const n = Size
	w := 2*k + 1
	out := make([]float64, n*n)
	for ch := range channels {
		plane := img[ch*n*n : (ch+1)*n*n]
		for y := range n {
			for x := range n {
				var s float64
				for dy := -k; dy <= k; dy++ {
					row := reflect101(y+dy, n) * n
					for dx := -k; dx <= k; dx++ {
						s += kernel[(dy+k)*w+dx+k] * plane[row+reflect101(x+dx, n)]
					}
				}
				out[y*n+x] = s
			}
		}
		copy(plane, out)
	}
}

// bilinear samples a plane at (y, x), clamping to the edge.
func bilinear(plane []float64, y, x float64) float64 {
	const n = Size
	y = math.Min(n-1, math.Max(0, y))
	x = math.Min(n-1, math.Max(0, x))
	y0, x0 := int(y), int(x)
	y1, x1 := min(y0+1, n-1), min(x0+1, n-1)
	fy, fx := y-float64(y0), x-float64(x0)
	top := plane[y0*n+x0]*(1-fx) + plane[y0*n+x1]*fx
	bot := plane[y1*n+x0]*(1-fx) + plane[y1*n+x1]*fx
	return top*(1-fy) + bot*fy
}

// mirror maps a coordinate into [0, n-1] by reflecting about the edges
// (…1 0 | 0 1 … n-1 | n-1 n-2 … for the continuous coordinate), as
// scipy's map_coordinates in "reflect" mode.
func mirror(v float64, n int) float64 {
	period := 2 * float64(n)
	v = math.Mod(v+0.5, period)
	if v < 0 {
		v += period
	}
	if v >= float64(n) {
		v = period - v
	}
	return math.Min(float64(n)-1, math.Max(0, v-0.5))
}

// gaussKernel returns the normalised 1-D Gaussian of standard deviation
// sigma sampled at −k..k.
func gaussKernel(sigma float64, k int) []float64 {
	g := make([]float64, 2*k+1)
	var s float64
	for i := range g {
		d := float64(i - k)
		g[i] = math.Exp(-d * d / (2 * sigma * sigma))
		s += g[i]
	}
	for i := range g {
		g[i] /= s
	}
	return g
}

// --- blur ---

// defocusRadius and defocusAlias are the disk radius and the standard
// deviation of the Gaussian that anti-aliases it, in pixels.
var (
	defocusRadius = [Severities]float64{0.3, 0.4, 0.5, 1, 1.5}
	defocusAlias  = [Severities]float64{0.4, 0.5, 0.6, 0.2, 0.1}
)

func defocusParams() (out [Severities]string) {
	for i := range out {
		out[i] = fmt.Sprintf("disk radius %g px, anti-alias σ %g px", defocusRadius[i], defocusAlias[i])
	}
	return out
}

// defocusKernel is the disk {x² + y² ≤ radius²} on the integer grid,
// normalised, convolved with a 3×3 sampled Gaussian of standard deviation
// alias (normalised): the blur of a lens out of focus.
func defocusKernel(radius, alias float64) ([]float64, int) {
	r := int(radius)
	k := r + 1 // the 3×3 Gaussian widens the disk by one pixel
	w := 2*k + 1
	disk := make([]float64, w*w)
	var s float64
	for y := -r; y <= r; y++ {
		for x := -r; x <= r; x++ {
			if float64(x*x+y*y) <= radius*radius {
				disk[(y+k)*w+x+k] = 1
				s++
			}
		}
	}
	g := gaussKernel(alias, 1)
	out := make([]float64, w*w)
	for y := range w {
		for x := range w {
			if disk[y*w+x] == 0 {
				continue
			}
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					out[(y+dy)*w+x+dx] += disk[y*w+x] / s * g[dy+1] * g[dx+1]
				}
			}
		}
	}
	return out, k
}

func defocusBlur(img []float64, channels, s int, _ *rand.Rand) {
	kernel, k := defocusKernel(defocusRadius[s], defocusAlias[s])
	convolve2D(img, channels, kernel, k)
}

// motionRadius bounds the streak's length (2·radius+1 samples, as
// ImageMagick's motion blur) and motionSigma is the standard deviation of
// the Gaussian weights along it, in pixels.
var (
	motionRadius = [Severities]int{6, 6, 6, 8, 9}
	// CIFAR-10-C's σ are 1, 1.5, 2, 2, 2.5: its severities 3 and 4 differ
	// only in the radius, which cuts weights below 1e-9, so they are the
	// same corruption. Here σ grows at every severity.
	motionSigma = [Severities]float64{1, 1.5, 2, 2.5, 3}
)

func motionParams() (out [Severities]string) {
	for i := range out {
		out[i] = fmt.Sprintf("σ %g px (radius %d px), angle in ±45°", motionSigma[i], motionRadius[i])
	}
	return out
}

// motionBlur averages every pixel with the pixels behind it along a
// direction at a random angle in [−45°, 45°] from the horizontal, at
// distances 0, 1, …, 2·radius, weighted by a one-sided Gaussian of
// standard deviation σ: the streak a camera moving during the exposure
// leaves. Samples between pixels are bilinear, outside the image the
// edge pixel.
func motionBlur(img []float64, channels, s int, r *rand.Rand) {
	const n = Size
	angle := (r.Float64()*90 - 45) * math.Pi / 180
	dy, dx := math.Sin(angle), math.Cos(angle)
	taps := 2*motionRadius[s] + 1
	w := make([]float64, taps)
	var sum float64
	for i := range w {
		w[i] = math.Exp(-float64(i*i) / (2 * motionSigma[s] * motionSigma[s]))
		sum += w[i]
	}
	for i := range w {
		w[i] /= sum
	}
	out := make([]float64, n*n)
	for ch := range channels {
		plane := img[ch*n*n : (ch+1)*n*n]
		for y := range n {
			for x := range n {
				var v float64
				for i, wi := range w {
					v += wi * bilinear(plane, float64(y)-float64(i)*dy, float64(x)-float64(i)*dx)
				}
				out[y*n+x] = v
			}
		}
		copy(plane, out)
	}
}

// --- digital ---

// pixelateScale is the side of the cell grid over the image's side. It is
// not CIFAR-10-C's 0.95, 0.9, 0.85, 0.75, 0.65 (30, 28, 27, 24 and 20
// cells): with cells of a non-integer number of pixels, the resampling
// moves content by up to half a pixel, and 30 cells change a digit more
// than 24 do, so those severities are not ordered. 24, 20, 16, 12 and 8
// cells (cells of 1.33 to 4 pixels) are.
var pixelateScale = [Severities]float64{0.75, 0.625, 0.5, 0.375, 0.25}

func pixelateParams() (out [Severities]string) {
	for i := range out {
		m := int(Size * pixelateScale[i])
		out[i] = fmt.Sprintf("%d×%d cells", m, m)
	}
	return out
}

// pixelate averages the image over an m×m grid of equal cells (m =
// ⌊32·scale⌋; a cell covers 32/m pixels, fractions of a pixel counted by
// their share) and paints every pixel with the value of the cell its
// centre falls in.
func pixelate(img []float64, channels, s int, _ *rand.Rand) {
	pixelateTo(img, channels, int(Size*pixelateScale[s]))
}

// pixelateTo pixelates img to m×m cells.
func pixelateTo(img []float64, channels, m int) {
	const n = Size
	// cover[c*n+p] is the length of pixel p inside cell c, along one axis.
	cover := make([]float64, m*n)
	step := float64(n) / float64(m)
	for c := range m {
		lo, hi := float64(c)*step, float64(c+1)*step
		for p := range n {
			cover[c*n+p] = math.Max(0, math.Min(hi, float64(p+1))-math.Max(lo, float64(p)))
		}
	}
	cell := make([]float64, m*m)
	rows := make([]float64, n*m) // rows[y*m+cx]: row y averaged over cell column cx
	for ch := range channels {
		plane := img[ch*n*n : (ch+1)*n*n]
		for y := range n {
			for cx := range m {
				var v float64
				for x, w := range cover[cx*n : (cx+1)*n] {
					v += w * plane[y*n+x]
				}
				rows[y*m+cx] = v
			}
		}
		for cy := range m {
			for cx := range m {
				var v float64
				for y, w := range cover[cy*n : (cy+1)*n] {
					v += w * rows[y*m+cx]
				}
				cell[cy*m+cx] = v / (step * step)
			}
		}
		for y := range n {
			cy := min(m-1, int((float64(y)+0.5)/step))
			for x := range n {
				plane[y*n+x] = cell[cy*m+min(m-1, int((float64(x)+0.5)/step))]
			}
		}
	}
}

// elasticAffine is the largest displacement of the affine's control
// points, elasticRMS the root-mean-square length of the elastic
// displacement field, both in pixels; elasticSigma is the field's
// smoothing.
var (
	elasticAffine = [Severities]float64{0.5, 1, 1.5, 2, 2.5}
	elasticRMS    = [Severities]float64{0.3, 0.6, 0.9, 1.2, 1.5}
)

const elasticSigma = 2.0

func elasticParams() (out [Severities]string) {
	for i := range out {
		out[i] = fmt.Sprintf("affine ≤ %g px, field RMS %g px (σ %g px)", elasticAffine[i], elasticRMS[i], elasticSigma)
	}
	return out
}

// elastic moves the pixels by a random affine map, then by a smooth random
// displacement field, the way the strokes of handwriting vary: three
// control points around the centre move by up to elasticAffine each (in
// each coordinate); the field is uniform noise in [−1, 1] per pixel and
// coordinate, smoothed by a Gaussian of σ = 2 px (mirrored borders) and
// scaled to the severity's RMS length. The image is resampled bilinearly
// at the displaced positions, mirrored about the borders. The same draws
// serve every severity, scaled.
func elastic(img []float64, channels, s int, r *rand.Rand) {
	const n = Size
	// Affine: control points c + (q, q), c + (q, −q), c − (q, q) with
	// c = n/2, q = n/3, each moved by uniform offsets.
	c, q := float64(n/2), float64(n/3)
	src := [3][2]float64{{c + q, c + q}, {c + q, c - q}, {c - q, c - q}}
	var dst [3][2]float64
	for i := range dst {
		for j := range 2 {
			dst[i][j] = src[i][j] + elasticAffine[s]*(2*r.Float64()-1)
		}
	}
	inv := affineFrom(dst, src) // output position → input position
	// The displacement field.
	field := [2][]float64{make([]float64, n*n), make([]float64, n*n)}
	for a := range field {
		for i := range field[a] {
			field[a][i] = 2*r.Float64() - 1
		}
		smooth(field[a], elasticSigma)
	}
	var ss float64
	for i := range n * n {
		ss += field[0][i]*field[0][i] + field[1][i]*field[1][i]
	}
	scale := 0.0
	if ss > 0 {
		scale = elasticRMS[s] / math.Sqrt(ss/float64(n*n))
	}
	warped := make([]float64, n*n)
	out := make([]float64, n*n)
	for ch := range channels {
		plane := img[ch*n*n : (ch+1)*n*n]
		for y := range n {
			for x := range n {
				// Points are (row, column) pairs throughout.
				sy := inv[0]*float64(y) + inv[1]*float64(x) + inv[2]
				sx := inv[3]*float64(y) + inv[4]*float64(x) + inv[5]
				warped[y*n+x] = bilinear(plane, mirror(sy, n), mirror(sx, n))
			}
		}
		for y := range n {
			for x := range n {
				dy, dx := scale*field[0][y*n+x], scale*field[1][y*n+x]
				out[y*n+x] = bilinear(warped, mirror(float64(y)+dy, n), mirror(float64(x)+dx, n))
			}
		}
		copy(plane, out)
	}
}

// affineFrom returns the affine map (a 2×3 matrix, row-major, acting on
// (row, column, 1)) that takes the points from onto the points to.
func affineFrom(from, to [3][2]float64) [6]float64 {
	// Solve [from_i 1] · m_row = to_i for each output coordinate by
	// Cramer's rule.
	det := func(a [3][3]float64) float64 {
		return a[0][0]*(a[1][1]*a[2][2]-a[1][2]*a[2][1]) - a[0][1]*(a[1][0]*a[2][2]-a[1][2]*a[2][0]) + a[0][2]*(a[1][0]*a[2][1]-a[1][1]*a[2][0])
	}
	var m [3][3]float64
	for i := range 3 {
		m[i] = [3]float64{from[i][0], from[i][1], 1}
	}
	d := det(m)
	var out [6]float64
	for coord := range 2 {
		for col := range 3 {
			a := m
			for i := range 3 {
				a[i][col] = to[i][coord]
			}
			out[coord*3+col] = det(a) / d
		}
	}
	return out
}

// smooth convolves an n×n plane with a Gaussian of standard deviation
// sigma truncated at 3σ, separably, borders mirrored by reflect101.
func smooth(plane []float64, sigma float64) {
	const n = Size
	k := int(math.Ceil(3 * sigma))
	g := gaussKernel(sigma, k)
	tmp := make([]float64, n*n)
	for y := range n {
		for x := range n {
			var v float64
			for i, w := range g {
				v += w * plane[y*n+reflect101(x+i-k, n)]
			}
			tmp[y*n+x] = v
		}
	}
	for y := range n {
		for x := range n {
			var v float64
			for i, w := range g {
				v += w * tmp[reflect101(y+i-k, n)*n+x]
			}
			plane[y*n+x] = v
		}
	}
}
