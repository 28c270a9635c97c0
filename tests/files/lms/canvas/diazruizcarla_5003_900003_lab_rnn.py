print('not a notebook')
