"""Small building blocks every domain shares: money, rates, time, errors."""
