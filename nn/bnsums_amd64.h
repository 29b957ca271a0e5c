// Steps of the BatchNorm sums shared by the AVX2 passes (Y registers, groups
// of 8 channels, 32 bytes) and the AVX-512 ones (Z registers, 16 channels,
// 64 bytes), so that both build every channel's sums from the same
// instructions in the same order. SI points at the rows, AX is the current
// row's byte offset, BX the channel group's.

// SUMS_ROW adds the current row's values at byte offset off from the group,
// less k, to s, and their squares to q; t is scratch.
#define SUMS_ROW(off, k, t, s, q) \
	VMOVUPS     off(SI)(AX*1), t; \
	VSUBPS      k, t, t;          \
	VADDPS      t, s, s;          \
	VFMADD231PS t, t, q

// SUMS_ADD adds the register sums s and q of the channels at byte offset off
// from the group to those in memory at sbase and qbase.
#define SUMS_ADD(off, s, q, sbase, qbase) \
	VADDPS  off(sbase)(BX*1), s, s; \
	VMOVUPS s, off(sbase)(BX*1);    \
	VADDPS  off(qbase)(BX*1), q, q; \
	VMOVUPS q, off(qbase)(BX*1)

// GRAD_SUMS_ROW adds the (masked) gradient g to sg and g·(x − mu) to sx;
// x is overwritten.
#define GRAD_SUMS_ROW(g, x, mu, sg, sx) \
	VADDPS      g, sg, sg; \
	VSUBPS      mu, x, x;  \
	VFMADD231PS x, g, sx
