package tensor

// A small interpreter for the instructions that gemm_asmgen.go emits, so
// that the text of every assembly micro-kernel — the AVX-512 one included,
// which cannot run on CPUs without AVX-512 — is executed and checked on any
// machine. The interpreter itself is checked against the hardware: where the
// CPU runs a kernel, the simulated and the real results must agree.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

type simInstr struct {
	op   string
	args []string
	line int
}

// simProgram is one TEXT block of the assembly file.
type simProgram struct {
	name   string
	code   []simInstr
	labels map[string]int
}

func loadSimPrograms(t *testing.T) map[string]*simProgram {
	t.Helper()
	src, err := os.ReadFile("gemm_kernels_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	progs := map[string]*simProgram{}
	var cur *simProgram
	for n, line := range strings.Split(string(src), "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "TEXT ") {
			name := strings.TrimPrefix(line, "TEXT ·")
			name = name[:strings.Index(name, "(")]
			cur = &simProgram{name: name, labels: map[string]int{}}
			progs[name] = cur
			continue
		}
		if cur == nil {
			t.Fatalf("gemm_kernels_amd64.s:%d: instruction outside TEXT", n+1)
		}
		if strings.HasSuffix(line, ":") {
			cur.labels[strings.TrimSuffix(line, ":")] = len(cur.code)
			continue
		}
		op, rest, _ := strings.Cut(line, " ")
		var args []string
		for _, a := range strings.Split(rest, ",") {
			if a = strings.TrimSpace(a); a != "" {
				args = append(args, a)
			}
		}
		cur.code = append(cur.code, simInstr{op: op, args: args, line: n + 1})
	}
	return progs
}

// simMachine holds the registers, a float32 memory addressed in bytes from
// 0, and the argument frame (byte offset → 8-byte slot or 4-byte value).
type simMachine struct {
	gpr   map[string]int64
	vec   [32][16]float32
	zf    bool
	mem   []float32
	frame map[int]uint64
}

func (s *simMachine) fail(in simInstr, format string, args ...any) {
	panic(fmt.Sprintf("gemm_kernels_amd64.s:%d %s %v: %s", in.line, in.op, in.args, fmt.Sprintf(format, args...)))
}

func isGPR(a string) bool {
	switch a {
	case "AX", "BX", "CX", "DX", "SI", "DI", "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15":
		return true
	}
	return false
}

// vecReg parses X/Y/Z registers into (number, lanes).
func vecReg(a string) (int, int, bool) {
	if len(a) < 2 {
		return 0, 0, false
	}
	lanes := map[byte]int{'X': 4, 'Y': 8, 'Z': 16}[a[0]]
	n, err := strconv.Atoi(a[1:])
	if lanes == 0 || err != nil || n < 0 || n > 31 {
		return 0, 0, false
	}
	return n, lanes, true
}

func parseImm(in simInstr, s *simMachine, a string) int64 {
	if !strings.HasPrefix(a, "$") {
		s.fail(in, "want an immediate, got %q", a)
	}
	v, err := strconv.ParseInt(a[1:], 0, 64)
	if err != nil {
		s.fail(in, "bad immediate %q", a)
	}
	return v
}

// frameOffset parses name+off(FP).
func frameOffset(a string) (int, bool) {
	if !strings.HasSuffix(a, "(FP)") {
		return 0, false
	}
	_, off, ok := strings.Cut(strings.TrimSuffix(a, "(FP)"), "+")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(off)
	return n, err == nil
}

// address evaluates off(BASE) or off(BASE)(INDEX*SCALE).
func (s *simMachine) address(in simInstr, a string) int64 {
	open := strings.Index(a, "(")
	if open < 0 {
		s.fail(in, "not a memory operand: %q", a)
	}
	var off int64
	if open > 0 {
		v, err := strconv.ParseInt(a[:open], 0, 64)
		if err != nil {
			s.fail(in, "bad displacement in %q", a)
		}
		off = v
	}
	rest := a[open:]
	closeIdx := strings.Index(rest, ")")
	base := rest[1:closeIdx]
	if !isGPR(base) {
		s.fail(in, "bad base register in %q", a)
	}
	addr := off + s.gpr[base]
	if idx := rest[closeIdx+1:]; idx != "" {
		reg, scale, ok := strings.Cut(strings.Trim(idx, "()"), "*")
		sc, err := strconv.Atoi(scale)
		if !ok || err != nil || !isGPR(reg) {
			s.fail(in, "bad index in %q", a)
		}
		addr += s.gpr[reg] * int64(sc)
	}
	return addr
}

func (s *simMachine) load(in simInstr, addr int64, lanes int) []float32 {
	if addr%4 != 0 || addr < 0 || int(addr/4)+lanes > len(s.mem) {
		s.fail(in, "load of %d floats at byte %d outside memory (%d floats)", lanes, addr, len(s.mem))
	}
	return s.mem[addr/4 : addr/4+int64(lanes)]
}

// operand reads a vector register or memory operand of the given width.
func (s *simMachine) operand(in simInstr, a string, lanes int) []float32 {
	if n, l, ok := vecReg(a); ok {
		if l != lanes {
			s.fail(in, "mixed vector widths")
		}
		return s.vec[n][:lanes]
	}
	return s.load(in, s.address(in, a), lanes)
}

func (s *simMachine) jump(p *simProgram, in simInstr, pc *int, cond bool) {
	if !cond {
		return
	}
	target, ok := p.labels[in.args[0]]
	if !ok {
		s.fail(in, "unknown label")
	}
	*pc = target - 1
}

// run executes p until RET. Any instruction or operand form the interpreter
// does not know fails the test, so it cannot silently skip new code.
func (s *simMachine) run(p *simProgram) {
	for pc, steps := 0, 0; ; pc++ {
		if steps++; steps > 10_000_000 || pc >= len(p.code) {
			panic(p.name + ": ran off the end or did not return")
		}
		in := p.code[pc]
		a := in.args
		switch in.op {
		case "MOVQ":
			if off, ok := frameOffset(a[0]); ok && isGPR(a[1]) {
				s.gpr[a[1]] = int64(s.frame[off])
			} else if isGPR(a[0]) && isGPR(a[1]) {
				s.gpr[a[1]] = s.gpr[a[0]]
			} else {
				s.fail(in, "unsupported operands")
			}
		case "MOVL":
			off, ok := frameOffset(a[0])
			if !ok || !isGPR(a[1]) {
				s.fail(in, "unsupported operands")
			}
			s.gpr[a[1]] = int64(uint32(s.frame[off]))
		case "SHLQ":
			s.gpr[a[1]] <<= parseImm(in, s, a[0])
			s.zf = s.gpr[a[1]] == 0
		case "SHRQ":
			s.gpr[a[1]] = int64(uint64(s.gpr[a[1]]) >> parseImm(in, s, a[0]))
			s.zf = s.gpr[a[1]] == 0
		case "ANDQ":
			s.gpr[a[1]] &= parseImm(in, s, a[0])
			s.zf = s.gpr[a[1]] == 0
		case "ANDL":
			s.gpr[a[1]] = int64(uint32(s.gpr[a[1]]) & uint32(parseImm(in, s, a[0])))
			s.zf = s.gpr[a[1]] == 0
		case "ADDQ":
			if !isGPR(a[0]) || !isGPR(a[1]) {
				s.fail(in, "unsupported operands")
			}
			s.gpr[a[1]] += s.gpr[a[0]]
			s.zf = s.gpr[a[1]] == 0
		case "DECQ":
			s.gpr[a[0]]--
			s.zf = s.gpr[a[0]] == 0
		case "LEAQ":
			s.gpr[a[1]] = s.address(in, a[0])
		case "JZ", "JEQ":
			s.jump(p, in, &pc, s.zf)
		case "JNZ", "JNE":
			s.jump(p, in, &pc, !s.zf)
		case "PREFETCHT0", "PCALIGN":
		case "VXORPS", "VPXORD":
			n, lanes, ok := vecReg(a[2])
			if !ok || a[0] != a[2] || a[1] != a[2] {
				s.fail(in, "only zeroing a register is supported")
			}
			clear(s.vec[n][:lanes])
		case "VMOVUPS":
			if n, lanes, ok := vecReg(a[1]); ok {
				copy(s.vec[n][:lanes], s.operand(in, a[0], lanes))
			} else if n, lanes, ok := vecReg(a[0]); ok {
				copy(s.load(in, s.address(in, a[1]), lanes), s.vec[n][:lanes])
			} else {
				s.fail(in, "unsupported operands")
			}
		case "VBROADCASTSS":
			n, lanes, ok := vecReg(a[1])
			if !ok {
				s.fail(in, "unsupported operands")
			}
			var v float32
			if off, ok := frameOffset(a[0]); ok {
				v = math.Float32frombits(uint32(s.frame[off]))
			} else {
				v = s.load(in, s.address(in, a[0]), 1)[0]
			}
			for i := range lanes {
				s.vec[n][i] = v
			}
		case "VFMADD231PS", "VMULPS", "VADDPS":
			// Go operand order: OP src2, src1, dst.
			n, lanes, ok := vecReg(a[2])
			if !ok {
				s.fail(in, "unsupported operands")
			}
			x2 := append([]float32(nil), s.operand(in, a[0], lanes)...)
			x1 := append([]float32(nil), s.operand(in, a[1], lanes)...)
			d := s.vec[n][:lanes]
			for i := range d {
				switch in.op {
				case "VFMADD231PS":
					d[i] = fusedMulAdd32(x1[i], x2[i], d[i])
				case "VMULPS":
					d[i] = x1[i] * x2[i]
				case "VADDPS":
					d[i] = x1[i] + x2[i]
				}
			}
		case "VFMADD231PS.BCST":
			// The memory operand's one float32, broadcast to every lane.
			n, lanes, ok := vecReg(a[2])
			if !ok {
				s.fail(in, "unsupported operands")
			}
			if _, _, isReg := vecReg(a[0]); isReg {
				s.fail(in, "a broadcast needs a memory operand")
			}
			v := s.load(in, s.address(in, a[0]), 1)[0]
			x1 := append([]float32(nil), s.operand(in, a[1], lanes)...)
			d := s.vec[n][:lanes]
			for i := range d {
				d[i] = fusedMulAdd32(x1[i], v, d[i])
			}
		case "VZEROUPPER":
		case "RET":
			return
		default:
			s.fail(in, "instruction unknown to the simulator")
		}
	}
}

// fusedMulAdd32 is float32 a·b + c with one rounding. The product of two
// float32s is exact in float64 and the sum of it with c is exact in 128 bits,
// so rounding the exactly-rounded float64 FMA to float32 can differ from a
// single rounding only on double-rounding ties; the tests that compare with
// hardware allow one unit in the last place for that.
func fusedMulAdd32(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// simulateKernel runs the named kernel's text with the microKernelFunc
// arguments, on copies of a, b and c laid out in one simulated memory.
func simulateKernel(p *simProgram, kc int, a []float32, rsA, csA int, b []float32, csB int, c []float32, ldc int, alpha, beta float32) []float32 {
	const base = 64 // bytes; keeps 0 an invalid address
	mem := make([]float32, base/4+len(a)+len(b)+len(c))
	aAt := base
	bAt := aAt + 4*len(a)
	cAt := bAt + 4*len(b)
	copy(mem[aAt/4:], a)
	copy(mem[bAt/4:], b)
	copy(mem[cAt/4:], c)
	s := &simMachine{gpr: map[string]int64{}, mem: mem, frame: map[int]uint64{
		0: uint64(kc), 8: uint64(aAt), 16: uint64(rsA), 24: uint64(csA),
		32: uint64(bAt), 40: uint64(csB), 48: uint64(cAt), 56: uint64(ldc),
		64: uint64(math.Float32bits(alpha)), 68: uint64(math.Float32bits(beta)),
	}}
	// Poison the other registers: a kernel must not depend on them.
	for i := range s.vec {
		for j := range s.vec[i] {
			s.vec[i][j] = float32(math.NaN())
		}
	}
	for _, r := range []string{"AX", "BX", "DX", "SI", "DI", "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15"} {
		s.gpr[r] = -1 << 40
	}
	s.gpr["CX"] = -1 << 40
	s.run(p)
	// Everything but C must be unchanged.
	for i, v := range a {
		if math.Float32bits(mem[aAt/4+i]) != math.Float32bits(v) {
			panic(fmt.Sprintf("%s wrote into A at %d", p.name, i))
		}
	}
	for i, v := range b {
		if math.Float32bits(mem[bAt/4+i]) != math.Float32bits(v) {
			panic(fmt.Sprintf("%s wrote into B at %d", p.name, i))
		}
	}
	return mem[cAt/4:]
}

// TestGemmKernelsSimulated executes each assembly kernel's text (AVX2 and
// AVX-512) in the interpreter for packed and in-place layouts, checks the
// result against float64, checks that nothing outside the tile is written,
// and, where the CPU runs the kernel, that the hardware agrees with the
// interpreter.
func TestGemmKernelsSimulated(t *testing.T) {
	progs := loadSimPrograms(t)
	specs := []struct {
		name   string
		mr, nr int
	}{
		{"gemmKernel6x16AVX2", 6, 16},
		{"gemmKernel12x32AVX512", 12, 32},
		{"gemmKernel12x16AVX512", 12, 16},
		{"gemmKernel8x32AVX512", 8, 32},
		{"gemmKernel8x16AVX512", 8, 16},
	}
	if len(progs) != len(specs) {
		t.Fatalf("gemm_kernels_amd64.s has %d kernels, the test knows %d", len(progs), len(specs))
	}
	hardware := map[string]*microKernel{}
	for _, k := range kernels {
		if k.supported && k.name != "generic" {
			hardware[fmt.Sprintf("%dx%d", k.mr, k.nr)] = k
		}
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for _, spec := range specs {
		p := progs[spec.name]
		if p == nil {
			t.Fatalf("kernel %s not found in gemm_kernels_amd64.s", spec.name)
		}
		mr, nr := spec.mr, spec.nr
		hw := hardware[fmt.Sprintf("%dx%d", mr, nr)]
		compared := 0
		for _, kc := range []int{1, 3, 4, 5, 8, 9, 17} {
			for li, layout := range [][3]int{{1, mr, nr}, {kc + 3, 1, nr + 5}, {1, mr + 2, 2*nr + 1}} {
				for _, beta := range []float32{0, 1, -0.75} {
					rsA, csA, csB := layout[0], layout[1], layout[2]
					alpha := float32(0.8)
					a := make([]float32, (mr-1)*rsA+(kc-1)*csA+1)
					b := make([]float32, (kc-1)*csB+nr)
					for i := range a {
						a[i] = float32(rng.NormFloat64())
					}
					for i := range b {
						b[i] = float32(rng.NormFloat64())
					}
					ldc := nr + 3
					c := make([]float32, (mr-1)*ldc+nr+2) // two guard values past the tile
					for i := range c {
						c[i] = float32(rng.NormFloat64())
						if beta == 0 && i%ldc < nr {
							c[i] = float32(math.NaN())
						}
					}
					got := simulateKernel(p, kc, a, rsA, csA, b, csB, c, ldc, alpha, beta)
					checkMicroTile(t, fmt.Sprintf("%s layout %d kc=%d beta=%v", p.name, li, kc, beta), got, c, a, rsA, csA, b, csB, mr, nr, ldc, kc, alpha, beta)
					if hw == nil {
						continue
					}
					real := append([]float32(nil), c...)
					hw.fn(kc, &a[0], rsA, csA, &b[0], csB, &real[0], ldc, alpha, beta)
					for x := range real {
						if d := math.Abs(float64(real[x]) - float64(got[x])); d > 1.2e-7*math.Abs(float64(real[x])) {
							t.Fatalf("%s layout %d kc=%d beta=%v: hardware C[%d] = %v, simulated %v", p.name, li, kc, beta, x, real[x], got[x])
						}
					}
					compared++
				}
			}
		}
		if hw == nil {
			t.Logf("%s: checked in simulation only (this CPU cannot run it)", p.name)
		} else {
			t.Logf("%s: simulation agrees with the hardware in %d cases", p.name, compared)
		}
	}
}
