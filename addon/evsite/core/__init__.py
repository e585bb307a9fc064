"""Pure, synchronous domain logic: no I/O, no clock reads, no logging."""
