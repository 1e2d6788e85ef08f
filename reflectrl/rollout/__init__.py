"""Generation engines and the attempt -> reflect -> retry episode."""
