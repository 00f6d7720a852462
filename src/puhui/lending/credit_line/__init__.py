"""The consumer credit line (消费信贷, in the manner of 花呗 and 白条): a revolving limit spent at
merchants, billed monthly, free of interest when paid in full, convertible into instalments.
See docs/credit_line.md."""
