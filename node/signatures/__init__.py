"""Digital signatures: verification of signed PDFs, the node's own PAdES signatures and
signatures over approval records (Điều 5.1 and 18.3 of Quy chế 08-QC/TW)."""
