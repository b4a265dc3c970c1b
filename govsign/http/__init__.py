"""What the HTTP faces (api, web, csc) share: who the caller is, the request guards, the dependencies,
and the upload-and-sign steps both the API and the console run. No routes live here."""
