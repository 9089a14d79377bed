-- wrk script: POST /predict with one white wine, keep-alive (wrk's default).
wrk.method = "POST"
wrk.body = '{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}'
wrk.headers["Content-Type"] = "application/json"
