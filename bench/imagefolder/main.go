// Command imagefolder writes a synthetic image folder of JPEGs for
// measuring the streamed image-folder loader (docs/performance.md):
// root/train/<class>/*.jpg and root/test/<class>/*.jpg, images of random
// width and height in [min, max] pixels. A class is a hue and a stripe
// orientation, drawn under noise, so that a model can learn it and a run
// on the folder exercises a real training curve, not only the decoder.
//
//	go run ./bench/imagefolder -out DIR -train 50000 -test 5000 -classes 100
//
// The same flags write the same files.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

func main() {
	out := flag.String("out", "", "folder to write (created)")
	nTrain := flag.Int("train", 50000, "training images")
	nTest := flag.Int("test", 5000, "test images")
	classes := flag.Int("classes", 100, "classes")
	lo := flag.Int("min", 64, "smallest side, pixels")
	hi := flag.Int("max", 160, "largest side, pixels")
	seed := flag.Uint64("seed", 1, "seed")
	flag.Parse()
	if *out == "" || *classes < 1 || *lo < 1 || *hi < *lo {
		log.Fatal("want -out, -classes ≥ 1 and 1 ≤ -min ≤ -max")
	}
	for split, n := range map[string]int{"train": *nTrain, "test": *nTest} {
		for k := range *classes {
			if err := os.MkdirAll(filepath.Join(*out, split, fmt.Sprintf("c%03d", k)), 0o755); err != nil {
				log.Fatal(err)
			}
		}
		stream := uint64(1)
		if split == "test" {
			stream = 2
		}
		jobs := make(chan int, 256)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					if err := write(*out, split, i, *classes, *lo, *hi, *seed, stream); err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
					}
				}
			}()
		}
		for i := range n {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		if firstErr != nil {
			log.Fatal(firstErr)
		}
	}
}

// write draws image i of split from its own generator, so that the output
// does not depend on the number of goroutines.
func write(root, split string, i, classes, lo, hi int, seed, stream uint64) error {
	rng := rand.New(rand.NewPCG(seed^stream<<32, uint64(i)))
	k := i % classes
	w, h := lo+rng.IntN(hi-lo+1), lo+rng.IntN(hi-lo+1)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	hue := 2 * math.Pi * float64(k) / float64(classes)
	angle := math.Pi * float64(k%7) / 7
	period := 6 + 3*float64(k%5)
	ca, sa := math.Cos(angle), math.Sin(angle)
	for y := range h {
		for x := range w {
			t := 0.5 + 0.5*math.Sin(2*math.Pi*(float64(x)*ca+float64(y)*sa)/period)
			noise := 40 * (rng.Float64() - 0.5)
			c := [3]float64{}
			for ch := range 3 {
				c[ch] = 128 + 90*t*math.Cos(hue+2*math.Pi*float64(ch)/3) + noise
			}
			img.SetRGBA(x, y, color.RGBA{clamp(c[0]), clamp(c[1]), clamp(c[2]), 255})
		}
	}
	path := filepath.Join(root, split, fmt.Sprintf("c%03d", k), fmt.Sprintf("%s_%07d.jpg", split, i))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	if err := jpeg.Encode(bw, img, &jpeg.Options{Quality: 90}); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func clamp(v float64) uint8 { return uint8(min(max(math.Round(v), 0), 255)) }
