module genesys-sentiment/bench/original

go 1.19
