/*===- ukernels_generic.c - Portable C microkernels (the reference) --------===*
 *
 * Every entry point of milm_ukernels.h in portable C99/C11; see
 * ukernels_generic.inc. Other instruction sets are checked against this one.
 *===----------------------------------------------------------------------===*/
#include "ukernels_generic.inc"
