// Every console page: what the shell does besides the server's HTML.
