"""lstm_cell returns NaN and infinite states (still differentiable)."""


def lstm_cell(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    return h_prev * float("nan"), c_prev * float("inf")  # still differentiable
