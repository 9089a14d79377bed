-- wrk script: POST /predict with the JSON batch in the file named by WQ_BATCH_FILE.
local f = assert(io.open(os.getenv("WQ_BATCH_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
