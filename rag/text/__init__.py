"""Rules about text that every layer shares: sentences, terms and repairs (`rules`), dates and
periods (`dates`), places (`places`), follow-up questions made standalone (`followup`)."""
