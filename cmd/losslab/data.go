package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/data/corrupt"
	"github.com/losslab/losslab/npy"
)

// dataOptions are the flags of `losslab data`.
type dataOptions struct {
	dataset     string
	out         string
	corruptions string
	split       string
	seed        uint64
	limit       int
	grid        string
	images      int
	zoom        int
	farOOD      int
}

func (o *dataOptions) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.dataset, "dataset", "", "corrupt: dataset name or path")
	fs.StringVar(&o.out, "out", "", "corrupt: output folder for the .npy sets")
	fs.StringVar(&o.corruptions, "corruptions", "common", "corrupt: comma-separated corruption names and groups ("+strings.Join(corrupt.Groups, ", ")+")")
	fs.StringVar(&o.split, "split", "test", "corrupt: split to corrupt (train or test)")
	fs.Uint64Var(&o.seed, "seed", 0, "corrupt: seed; image i of corruption c at severity s depends only on (seed, c, s, i)")
	fs.IntVar(&o.limit, "limit", 0, "corrupt: use only the first N images (0 = all)")
	fs.StringVar(&o.grid, "grid", "", "corrupt: write a PNG grid of samples (rows: corruptions; columns: clean, then severities) instead of the sets")
	fs.IntVar(&o.images, "images", 2, "corrupt --grid: images per corruption")
	fs.IntVar(&o.zoom, "zoom", 4, "corrupt --grid: magnification")
	fs.IntVar(&o.farOOD, "far-ood", 0, "corrupt: also write N images of each far-OOD kind (noise, shapes) shaped like the dataset")
}

func init() {
	register(&command{
		name:    "data",
		summary: "Datasets: 'data list', 'data fetch NAME…', 'data verify [NAME…]', 'data info NAME', 'data corrupt --dataset NAME --out DIR'.",
		usage:   "list|fetch|verify|info|corrupt [flags] [names]",
		addFlags: func(fs *flag.FlagSet) runFunc {
			var o dataOptions
			o.AddFlags(fs)
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				return runData(ctx, &o, args, stdout, stderr)
			}
		},
	})
}

func runData(ctx context.Context, o *dataOptions, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErrorf("data: want list, fetch, verify, info or corrupt")
	}
	// Flags may follow the subcommand: `data corrupt --dataset mnist`.
	fs := flag.NewFlagSet("losslab data "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	saved := *o
	o.AddFlags(fs) // registering a flag sets it to its default: keep those given before the subcommand
	*o = saved
	if err := fs.Parse(args[1:]); err != nil {
		return usageErrorf("data %s: %v", args[0], err)
	}
	names := fs.Args()
	switch args[0] {
	case "list":
		return dataList(stdout)
	case "fetch":
		if len(names) == 0 {
			return usageErrorf("data fetch: name the datasets to fetch; known: %s", strings.Join(data.Names(), ", "))
		}
		return dataFetch(ctx, names, stdout, stderr)
	case "verify":
		return dataVerify(names, stdout)
	case "info":
		if len(names) != 1 {
			return usageErrorf("data info: want one dataset name or path")
		}
		return dataInfo(names[0], stdout)
	case "corrupt":
		return dataCorrupt(o, stdout)
	default:
		return usageErrorf("data: unknown subcommand %q; want list, fetch, verify, info or corrupt", args[0])
	}
}

func dataList(w io.Writer) error {
	cache, err := data.CacheDir()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "cache: %s (set $%s to change)\n\n", cache, data.CacheDirEnv)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPRESENT\tDOWNLOAD\tDESCRIPTION")
	for _, name := range data.Names() {
		e := data.Lookup(name)
		where := "no"
		if dir, err := e.Locate(); err == nil {
			where = dir
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f MB\t%s\n", name, where, float64(e.DownloadSize())/1e6, e.Description)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nAlso accepted wherever a dataset is named: a .npz file (x_train, y_train, x_test, y_test)")
	fmt.Fprintln(w, "or an image folder with train/<class>/*.png|jpg and test/<class>/….")
	return nil
}

func lookupEntry(name string) (*data.Entry, error) {
	e := data.Lookup(name)
	if e == nil {
		return nil, usageErrorf("unknown dataset %q; known: %s", name, strings.Join(data.Names(), ", "))
	}
	return e, nil
}

func dataFetch(ctx context.Context, names []string, stdout, stderr io.Writer) error {
	d := &data.Downloader{Log: stderr}
	for _, name := range names {
		e, err := lookupEntry(name)
		if err != nil {
			return err
		}
		dir, err := e.Fetch(ctx, d)
		if err != nil {
			return fmt.Errorf("fetch %s: %w", name, err)
		}
		fmt.Fprintf(stdout, "%s: verified in %s\n", name, dir)
		if e.Licence != "" {
			fmt.Fprintf(stdout, "  licence: %s\n", e.Licence)
		}
	}
	return nil
}

func dataVerify(names []string, w io.Writer) error {
	all := len(names) == 0
	if all {
		names = data.Names()
	}
	var failed []string
	for _, name := range names {
		e, err := lookupEntry(name)
		if err != nil {
			return err
		}
		dir, err := e.Locate()
		if err != nil {
			if all && errors.Is(err, data.ErrNotPresent) {
				fmt.Fprintf(w, "%-16s not present\n", name)
				continue
			}
			return err
		}
		if err := e.VerifyIn(dir); err != nil {
			fmt.Fprintf(w, "%-16s BAD in %s: %v\n", name, dir, err)
			failed = append(failed, name)
			continue
		}
		fmt.Fprintf(w, "%-16s ok (%d files in %s)\n", name, len(e.Files), dir)
	}
	if len(failed) > 0 {
		return fmt.Errorf("verify: %s failed; delete the bad files and run 'losslab data fetch %s'", strings.Join(failed, ", "), strings.Join(failed, " "))
	}
	return nil
}

func dataInfo(name string, w io.Writer) error {
	t0 := time.Now()
	train, test, err := data.NewResolver().Load(name)
	if err != nil {
		return err
	}
	elapsed := time.Since(t0)
	for _, d := range []*data.Dataset{train, test} {
		fmt.Fprintf(w, "%s %s: %d examples of %v, %d classes, counts %v\n", d.Name, d.Split, d.Len(), d.ExampleShape(), d.NumClasses, d.ClassCounts())
	}
	fmt.Fprintf(w, "normalisation: mean %.4f std %.4f\nloaded in %.3f s\n", train.Norm.Mean, train.Norm.Std, elapsed.Seconds())
	return nil
}

// corruptionNames expands the --corruptions flag: comma-separated
// corruption names and groups, in the order of corrupt.Expand.
func corruptionNames(spec string) ([]string, error) {
	var names []string
	for _, n := range strings.Split(spec, ",") {
		names = append(names, strings.TrimSpace(n))
	}
	out, err := corrupt.Expand(names)
	if err != nil {
		return nil, usageErrorf("data corrupt: %v", err)
	}
	return out, nil
}

func dataCorrupt(o *dataOptions, w io.Writer) error {
	if o.dataset == "" {
		return usageErrorf("data corrupt: --dataset is required")
	}
	if o.out == "" && o.grid == "" {
		return usageErrorf("data corrupt: give --out DIR for the sets or --grid FILE.png for samples")
	}
	names, err := corruptionNames(o.corruptions)
	if err != nil {
		return err
	}
	if o.split != "train" && o.split != "test" {
		return usageErrorf("data corrupt: --split %q; want train or test", o.split)
	}
	train, test, err := data.NewResolver().Load(o.dataset)
	if err != nil {
		return err
	}
	d := test
	if o.split == "train" {
		d = train
	}
	d = d.Head(o.limit)
	if d.Streamed() {
		return usageErrorf("data corrupt: %s streams from files; corrupt the in-memory folder (the path without :stream)", o.dataset)
	}
	if o.grid != "" {
		return writeGrid(o, d, names, w)
	}
	t0 := time.Now()
	err = corrupt.WriteSet(o.out, d, names, o.seed, func(file string) {
		fmt.Fprintf(w, "wrote %s (%.1f s)\n", file, time.Since(t0).Seconds())
	})
	if err != nil {
		return err
	}
	if o.farOOD > 0 {
		s := d.ExampleShape()
		for _, kind := range corrupt.FarOODKinds {
			raw, err := corrupt.FarOOD(kind, o.farOOD, s[0], s[1], s[2], o.seed)
			if err != nil {
				return err
			}
			file := filepath.Join(o.out, "far-ood_"+kind+".npy")
			if err := npy.WriteFile(file, &npy.Array{Shape: []int{raw.N, raw.H, raw.W, raw.C}, DType: "|u1", Uint8: raw.Pix}); err != nil {
				return err
			}
			fmt.Fprintf(w, "wrote %s\n", file)
		}
	}
	return nil
}

// writeGrid draws, for each corruption, o.images examples as rows of
// clean, severity 1, …, severity 5.
func writeGrid(o *dataOptions, d *data.Dataset, names []string, w io.Writer) error {
	if o.images < 1 || o.zoom < 1 {
		return usageErrorf("data corrupt --grid: --images and --zoom must be ≥ 1")
	}
	n := min(o.images, d.Len())
	sample := d.Head(n).Raw()
	var rows [][][]byte
	for _, name := range names {
		c := corrupt.Lookup(name)
		for i := range n {
			row := [][]byte{sample.Image(i)}
			for s := 1; s <= c.Severities; s++ {
				img, err := corrupt.Apply(corrupt.FromBytes(sample.H, sample.W, sample.C, sample.Image(i)), name, s, o.seed, i)
				if err != nil {
					return err
				}
				b := make([]byte, len(img.Pix))
				img.Bytes(b)
				row = append(row, b)
			}
			rows = append(rows, row)
		}
	}
	if dir := filepath.Dir(o.grid); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := corrupt.WritePNG(o.grid, corrupt.Grid(rows, sample.H, sample.W, sample.C, o.zoom)); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s: %d rows (%s × %d images), columns clean then severities\n", o.grid, len(rows), strings.Join(names, ", "), n)
	return nil
}
