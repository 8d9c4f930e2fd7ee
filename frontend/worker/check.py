# The check() that exercise checks call, defined once for the page, the sandbox and the tests:
# one line per check, "✔ description" when the condition holds, "✘ description" otherwise.
def check(description, condition):
    print(("\u2714 " if condition else "\u2718 ") + str(description), flush=True)
